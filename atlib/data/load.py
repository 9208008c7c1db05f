"""``load_dataset``: find any dataset of the table in the searched folders, decode once, cache as ``.npy``.

The table (``atlib.datasets.DATASET_INFO``) names each dataset's reader, a module of ``atlib.data`` that
knows its on-disk formats (:class:`Reader`). This module applies the search rule of
``atlib.data.sources`` to it, validates what the reader decoded against the table (image size, classes),
caches the arrays and explains, when nothing is found, every place and layout it tried.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple, Protocol, cast

import numpy as np

from atlib.data.cache import atomic_dir, cache_dir, source_key
from atlib.data.imageset import ImageSet, validate_image_set
from atlib.data.sources import DATA_ENV, Root, candidate_roots, describe_roots
from atlib.datasets import DatasetInfo, dataset_info
from atlib.store.io import read_json, save_npy, write_json

SPLITS: tuple[str, ...] = ("train", "test")


class Source(NamedTuple):
    """A found split: ``kind`` names the layout (the reader's own word), ``path`` the file or folder holding it."""

    kind: str
    path: Path


class Reader(Protocol):
    """What a reader module of ``atlib.data`` provides for the datasets whose table entry names it."""

    def find(self, root: Path, info: DatasetInfo, split: str, explicit: bool) -> Source | None:
        """Where ``split`` lies in ``root`` (a folder, or a file an explicit root may name), or None.
        ``explicit``: the user named ``root``, so a near miss (e.g. a wrong class count) is an error."""

    def key_paths(self, source: Source, info: DatasetInfo, split: str) -> list[Path]:
        """The files and folders whose stat identifies the source's content (the cache key)."""

    def read(self, source: Source, info: DatasetInfo, split: str) -> ImageSet:
        """Decode the split: uint8 HWC images, labels, class names."""

    def layouts(self, info: DatasetInfo) -> list[str]:
        """One line per accepted layout, for 'not found' messages."""

    def download(self, info: DatasetInfo, root: Path, split: str) -> None:
        """Fetch the official release of ``split`` into ``root`` (raises when offline)."""


def reader(info: DatasetInfo) -> Reader:
    """The reader module the table names for ``info``."""
    return cast(Reader, importlib.import_module(info.reader))


def load_dataset(name: str, split: str, root: str | Path | None = None, download: bool = True) -> ImageSet:
    """Load ``split`` ('train' or 'test') of dataset ``name`` as uint8 HWC images with int64 labels.

    ``root`` given: only there (a folder, or an archive file the reader accepts); it must hold the dataset.
    Otherwise ``$ATLIB_DATA``, then ``./data``, then (``download``) the official release fetched by
    torchvision into the first of those. The decoded arrays are cached in ``$ATLIB_CACHE`` keyed by the
    source's path, size and mtime, and returned memory-mapped from there.
    """
    info = dataset_info(name)
    source, _ = locate_dataset(name, split, root, download)
    return _load_cached(source, info, split)


def locate_dataset(name: str, split: str, root: str | Path | None = None, download: bool = True) -> tuple[Source, Path]:
    """Where :func:`load_dataset` reads ``split`` of ``name`` from: the source, and the searched root that holds it
    (``load_dataset(..., root=that root)`` finds the same source)."""
    info = dataset_info(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    read = reader(info)
    roots = candidate_roots(root)
    explicit = root is not None
    found = next(((s, r.path) for r in roots if (s := read.find(r.path, info, split, explicit)) is not None), None)
    download_error = None
    if found is None and download and not explicit:
        download_error = _download(read, info, roots[0].path, split)
        source = read.find(roots[0].path, info, split, False) if download_error is None else None
        found = (source, roots[0].path) if source is not None else None
    if found is None:
        raise FileNotFoundError(_not_found_message(read, info, split, roots, explicit, download, download_error))
    return found


def _load_cached(source: Source, info: DatasetInfo, split: str) -> ImageSet:
    """Decode ``source`` once into the cache, then always read the memory-mapped cache entry."""
    read = reader(info)
    key = source_key(read.key_paths(source, info, split), info.name, split)
    entry = cache_dir("datasets", f"{info.name}-{split}-{key}")
    if not entry.is_dir():
        images, labels, classes = read.read(source, info, split)
        validate_image_set(images, labels, info.num_classes, f"{info.name} {split} from {source.path}", info.image_size)
        with atomic_dir(entry) as tmp:
            save_npy(tmp / "images.npy", images)
            save_npy(tmp / "labels.npy", labels.astype(np.int64))
            write_json(tmp / "classes.json", {"classes": list(classes), "source": str(source.path)})
    return ImageSet(
        np.load(entry / "images.npy", mmap_mode="r"),
        np.load(entry / "labels.npy"),
        tuple(read_json(entry / "classes.json")["classes"]),
    )


def _download(read: Reader, info: DatasetInfo, root: Path, split: str) -> str | None:
    """Ask the reader for the official release in ``root``; return the error text on failure."""
    try:
        read.download(info, root, split)
    except Exception as err:  # offline, proxy, disk: the caller reports it with everything searched
        return f"{type(err).__name__}: {err}"
    return None


def _not_found_message(read: Reader, info: DatasetInfo, split: str, roots: list[Root], explicit: bool,
                       download: bool, download_error: str | None) -> str:
    if explicit:
        tried = "An explicit root is the only place searched, and nothing is downloaded into it."
        fix = f"Pass the folder (or archive) that holds {info.name}, or no root to search ${DATA_ENV} and ./data."
    else:
        if not download:
            tried = "Download was not attempted (download=False)."
        elif download_error:
            tried = f"Downloading with torchvision into {roots[0].path} failed: {download_error}"
        else:
            tried = "torchvision reported a successful download, but no layout was found afterwards."
        fix = f"Set ${DATA_ENV} to the folder that holds the data, or pass root=..."
    layouts = "\n".join(f"  - {line}" for line in read.layouts(info))
    return (
        f"{info.name} {split} split not found. Searched, in order:\n{describe_roots(roots)}\n"
        f"Accepted layouts in each folder:\n{layouts}\n{tried}\n{fix}"
    )
