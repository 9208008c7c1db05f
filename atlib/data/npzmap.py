"""Memory-map arrays stored inside ``.npz`` files, so huge files are never read whole.

An ``np.savez`` (stored, uncompressed) member is a plain ``.npy`` file at a fixed offset in the
zip, so it is memory-mapped in place. An ``np.savez_compressed`` member cannot be, so it is
decompressed ONCE, streamed in chunks, into a ``.npy`` in the cache and mapped from there (zipfile
checks its CRC on the way). A memory map skips the zip CRC of a stored member, so :func:`content_hash`,
the one full read of a synthesized file (its identity, recorded with a run), checks those CRCs as it hashes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

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


def content_hash(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    """sha256 of a file's bytes: the identity of an input that may move (a synthesized set's path changes with
    the repository; its content must not). For a zip (``.npz``), the same single read also checks the CRC of
    every stored member, and a mismatch is a ValueError naming the member. About 1 GB/s."""
    members = _stored_members(Path(path))
    crcs = [0] * len(members)
    digest = hashlib.sha256()
    position = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            view, end = memoryview(block), position + len(block)
            for k, (_, start, stop, _) in enumerate(members):
                low, high = max(start, position), min(stop, end)
                if low < high:
                    crcs[k] = zlib.crc32(view[low - position:high - position], crcs[k])
            digest.update(block)
            position = end
    for (name, _, _, expected), crc in zip(members, crcs):
        if crc != expected:
            raise ValueError(f"{path}: {name} fails its zip CRC check (the file is damaged: stored {expected:08x}, "
                             f"read {crc:08x}); download or generate it again")
    return digest.hexdigest()


def _stored_members(path: Path) -> list[tuple[str, int, int, int]]:
    """(name, first byte, end byte, CRC) of each uncompressed member of a zip; none for a file that is not a zip."""
    if not zipfile.is_zipfile(path):
        return []
    members = []
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            if info.compress_type == zipfile.ZIP_STORED:
                start = _member_data_offset(f, path, info)
                members.append((info.filename, start, start + info.compress_size, info.CRC))
    return members


def _member_data_offset(f: BinaryIO, path: Path, info: zipfile.ZipInfo) -> int:
    """Where a member's bytes start: after its local header, whose name and extra field lengths may differ from
    the central directory's."""
    f.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if fields[0] != _LOCAL_SIGNATURE:
        raise ValueError(f"{path}: bad zip local header for {info.filename} (corrupt file)")
    return info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]


def npz_memmap(path: Path, key: str) -> np.memmap:
    """Array ``key`` of the ``.npz`` at ``path`` as a read-only memmap (see module docstring)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{key}.npy")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as f:
                return _npy_memmap(path, _member_data_offset(f, path, info))
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
