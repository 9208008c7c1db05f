"""Crash-safe file writing: every output is written to a temporary file in the
same folder and renamed into place, so a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from atlib.errors import AtlibError

_DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DiskFullError(AtlibError, OSError):
    """A write failed for lack of space (or a file-size limit); the file it was replacing is intact."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (a hidden name ending in ``suffix``); on success fsync and rename
    it onto ``path``.

    The final file gets the mode an ordinary write would give it (0666 less the umask), not the
    temporary file's 0600, so collaborators on a shared filesystem can read it. On an exception the
    temporary file is removed and ``path`` is left untouched; a lack of space is raised as
    :class:`DiskFullError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException as e:
        tmp_path.unlink(missing_ok=True)
        if is_disk_full(e) and not isinstance(e, DiskFullError):
            full = DiskFullError(f"disk full at {path} (the previous file, if any, is intact); free some space or "
                                 "choose another --out-dir, then run the same command again")
            full.errno = errno.ENOSPC
            raise full from e
        raise


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it: torch wraps write errors) is a lack of space or a file-size limit."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            return True
        text = str(error)
        if any(s in text for s in ("No space left", "File too large", "Disk quota", "file write failed")):
            return True
        error = error.__cause__ or error.__context__
    return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content; a damaged file (cut by a full disk, edited by hand) is named in the error."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is damaged (not valid JSON: {err}); restore it, or delete it if atlib can "
                         "recreate it (a run's progress.json; a run folder with --force)") from None


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` as a ``.npy`` file (``path`` keeps its exact name)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)


def preallocate_npy(path: str | os.PathLike, dtype: Any, shape: tuple[int, ...], fill: float | int | None = None) -> None:
    """Create an ``.npy`` file of ``shape`` to be filled in place later (memory-mapped), atomically, with its
    blocks allocated (``posix_fallocate``): a full disk fails here, with :class:`DiskFullError`, never later
    as a SIGBUS while a memory map writes into a hole. ``fill`` None leaves it zero."""
    with atomic_path(path) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        size = array.offset + array.nbytes
        with open(tmp, "rb+") as f:
            os.posix_fallocate(f.fileno(), 0, size)
        if fill is not None:
            array[...] = fill
        array.flush()
        del array


def npy_size_problem(path: Path) -> str | None:
    """What is wrong with the size of the ``.npy`` file ``path`` (None if its size is what its header implies)."""
    try:
        with open(path, "rb") as f:
            shape, dtype = _header(f)
            expected = f.tell() + math.prod(shape) * dtype.itemsize
    except FileNotFoundError:
        return f"{path} is missing"
    except (ValueError, OSError, EOFError) as e:
        return f"{path} has a damaged header ({e})"
    actual = path.stat().st_size
    return None if actual == expected else f"{path} holds {actual} bytes, its header implies {expected}"


def npy_shape(path: Path) -> tuple[int, ...]:
    """The shape in an ``.npy`` file's header (without mapping it)."""
    with open(path, "rb") as f:
        return _header(f)[0]


def _header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(f)
    return tuple(shape), dtype


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


WAYS_OUT = "use --force to start the run again, or restore the file from a copy"


class RunFolderError(ValueError):
    """A run folder holds something this call cannot safely continue from; the message says what was
    found and the ways out. Raised before anything is written."""
