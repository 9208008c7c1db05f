"""Memory-map arrays stored inside ``.npz`` files, so huge files are never read whole.

An ``np.savez`` (stored, uncompressed) member is a plain ``.npy`` file at a fixed offset in the
zip, so it is memory-mapped in place. An ``np.savez_compressed`` member cannot be, so it is
decompressed ONCE, streamed in chunks, into a ``.npy`` in the cache and mapped from there.
"""

from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

from atlib.data.cache import cache_dir, source_key
from atlib.store.io import atomic_path

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"
_COPY_CHUNK = 16 << 20


def npz_keys(path: Path) -> list[str]:
    """The array names in an ``.npz`` (member names without ``.npy``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [n.removesuffix(".npy") for n in zf.namelist()]
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path} is not a valid .npz file (corrupt or incomplete: {err})") from err


def npz_memmap(path: Path, key: str) -> np.memmap:
    """Array ``key`` of the ``.npz`` at ``path`` as a read-only memmap (see module docstring)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{key}.npy")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as f:
                f.seek(info.header_offset)
                fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
                if fields[0] != _LOCAL_SIGNATURE:
                    raise ValueError(f"{path}: bad zip local header for {key}.npy (corrupt file)")
                return _npy_memmap(path, info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
    return _npy_memmap(_decompressed(path, key), 0)


def _npy_memmap(path: Path, offset: int) -> np.memmap:
    """Memory-map the ``.npy`` that starts at byte ``offset`` of ``path``."""
    with open(path, "rb") as f:
        f.seek(offset)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path}: unsupported .npy format version {version}")
        if dtype.hasobject:
            raise ValueError(f"{path}: holds Python objects, which cannot be memory-mapped; save plain arrays")
        data_offset = f.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=data_offset, shape=shape, order="F" if fortran else "C")


def _decompressed(path: Path, key: str) -> Path:
    """The cache copy of compressed member ``key``, streamed out of the zip on first use."""
    target = cache_dir("npz", f"{path.stem}-{source_key([path])}", f"{key}.npy")
    if not target.is_file():
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as src, atomic_path(target) as tmp:
            with open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
    return target
