"""atlib's on-disk cache: decoded arrays and extracted archives, keyed by their source's stat.

Everything is written into a temporary folder beside its final place and renamed, so a crash
or a concurrent process never leaves a half-written entry behind.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

CACHE_ENV = "ATLIB_CACHE"
# Bump when the layout of cached entries changes, so stale entries are never read.
CACHE_VERSION = 1


def cache_dir(*parts: str) -> Path:
    """``$ATLIB_CACHE`` (default ``~/.cache/atlib``) joined with ``parts``."""
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "atlib").expanduser()
    return base.joinpath(*parts)


def source_key(paths: Iterable[Path], *extra: object) -> str:
    """A short hash of the resolved paths, their mtime and size, and ``extra``.

    Stat-based (not content-based) so checking it is instant; replacing or touching a source
    gives a new key and therefore a fresh cache entry.
    """
    items: list[object] = [CACHE_VERSION, *extra]
    for path in paths:
        st = path.stat()
        items.append([str(path.resolve()), st.st_mtime_ns, st.st_size])
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder that is renamed onto ``final`` on success.

    If another process created ``final`` meanwhile, its entry wins and ours is dropped; on an
    exception the temporary folder is removed.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a cache entry is ordinary data
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def extracted_archive(archive: Path) -> Path:
    """The folder holding ``archive``'s contents, extracting it into the cache on first use."""
    archive_name = archive.name.split(".tar")[0].removesuffix(".tgz")
    target = cache_dir("archives", f"{archive_name}-{source_key([archive])}")
    if not target.is_dir():
        with atomic_dir(target) as tmp:
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, EOFError, gzip.BadGzipFile, lzma.LZMAError, zlib.error) as err:
                raise ValueError(
                    f"cannot extract {archive}: the archive is corrupt or incomplete ({err}); "
                    "re-download it"
                ) from err
    return target
