"""``load_cifar``: find CIFAR-10/100 in any layout users have, decode once, cache as ``.npy``.

Layouts accepted in each searched root, in this order:
1. the official python release folder (``cifar-10-batches-py/`` or ``cifar-100-python/``);
2. an ImageFolder (``train/<class>/*.png|jpg``, ``test/<class>/...``) directly in the root
   (used only when it has the dataset's number of classes); then either layout in a subfolder
   named like ``cifar10``, ``cifar-10``, ``CIFAR100``...;
3. an archive ``cifar10*.tar.gz|.tgz|.tar.xz`` (``cifar-10-*`` too, e.g. the official
   ``cifar-10-python.tar.gz``) holding either layout, extracted once into the cache.
Official files keep the official row order; ImageFolders are ordered by class, then file name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from atlib.data.cache import atomic_dir, cache_dir, extracted_archive, source_key
from atlib.data.constants import NUM_CLASSES, check_dataset
from atlib.data.imagefolder import class_dirs, read_image_folder
from atlib.data.imageset import ImageSet, validate_image_set
from atlib.data.official import OFFICIAL_ARCHIVES, OFFICIAL_DIRS, official_paths, read_official
from atlib.data.sources import DATA_ENV, Root, candidate_roots, describe_roots
from atlib.store.io import read_json, save_npy, write_json

SPLITS: tuple[str, ...] = ("train", "test")
_NAME_PATTERN: dict[str, re.Pattern[str]] = {
    "cifar10": re.compile(r"^cifar[-_]?10(?!0)", re.IGNORECASE),
    "cifar100": re.compile(r"^cifar[-_]?100", re.IGNORECASE),
}
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz")


class Source(NamedTuple):
    """A found dataset: ``kind`` is 'official', 'imagefolder' or 'archive'; ``path`` is the
    official folder, the folder holding ``<split>/``, or the archive file."""

    kind: str
    path: Path


def load_cifar(name: str, split: str, root: str | Path | None = None, download: bool = True) -> ImageSet:
    """Load ``split`` ('train' or 'test') of ``name`` ('cifar10' or 'cifar100') as uint8 HWC.

    Searches ``root``, then ``$ATLIB_DATA``, then ``./data`` (see the module docstring for the
    layouts). With nothing found and ``download`` true, asks torchvision to download the official
    release into the first of those folders. The decoded arrays are cached in ``$ATLIB_CACHE``
    keyed by the source's path, size and mtime, and returned memory-mapped from there.
    """
    source, _ = locate_cifar(name, split, root, download)
    return _load_cached(source, name, split)


def locate_cifar(name: str, split: str, root: str | Path | None = None, download: bool = True) -> tuple[Source, Path]:
    """Where :func:`load_cifar` reads ``split`` of ``name`` from: the source, and the searched root folder
    that holds it (``load_cifar(..., root=that folder)`` finds the same source first)."""
    check_dataset(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    roots = candidate_roots(root)
    found = next(((s, r.path) for r in roots if (s := find_source(r.path, name, split)) is not None), None)
    download_error = None
    if found is None and download:
        download_error = _download(name, roots[0].path)
        source = find_source(roots[0].path, name, split) if download_error is None else None
        found = (source, roots[0].path) if source is not None else None
    if found is None:
        raise FileNotFoundError(_not_found_message(name, split, roots, download, download_error))
    return found


def find_source(root: Path, name: str, split: str) -> Source | None:
    """The first layout of ``name`` in ``root`` (priority as in the module docstring), or None."""
    if not root.is_dir():
        return None
    if (found := _layout_in(root, name, split, strict=False)) is not None:
        return found
    named = [p for p in sorted(root.iterdir(), key=lambda p: p.name) if _NAME_PATTERN[name].match(p.name)]
    for folder in (p for p in named if p.is_dir()):
        if (found := _layout_in(folder, name, split, strict=True)) is not None:
            return found
    archive = next((p for p in named if p.is_file() and p.name.lower().endswith(_ARCHIVE_SUFFIXES)), None)
    return Source("archive", archive) if archive is not None else None


def _layout_in(folder: Path, name: str, split: str, strict: bool) -> Source | None:
    """The official release (``folder`` itself or its child) or an ImageFolder in ``folder``.

    An ImageFolder with another class count is an error when the folder claims to be ``name``
    (``strict``: it is named so, or came out of a ``name`` archive), else just 'not this dataset'.
    """
    official = folder if folder.name == OFFICIAL_DIRS[name] else folder / OFFICIAL_DIRS[name]
    if official.is_dir():
        return Source("official", official)
    split_dir = folder / split
    if not split_dir.is_dir():
        return None
    count = len(class_dirs(split_dir))
    if count == NUM_CLASSES[name]:
        return Source("imagefolder", folder)
    if strict:
        raise ValueError(f"{split_dir} has {count} class folders but {name} has {NUM_CLASSES[name]}")
    return None


def _inside_archive(folder: Path, archive: Path, name: str, split: str) -> Source:
    """The layout inside an extracted archive: at its top or one folder down."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (found := _layout_in(candidate, name, split, strict=True)) is not None:
            return found
    raise ValueError(
        f"{archive} holds neither {OFFICIAL_DIRS[name]}/ nor an ImageFolder with a {split}/ folder"
    )


def _key_paths(source: Source, name: str, split: str) -> list[Path]:
    if source.kind == "official":
        return official_paths(source.path, name, split)
    if source.kind == "imagefolder":
        split_dir = source.path / split
        return [split_dir, *class_dirs(split_dir)]  # a folder's mtime changes when files come or go
    return [source.path]


def _decode(source: Source, name: str, split: str) -> ImageSet:
    if source.kind == "archive":
        inner = _inside_archive(extracted_archive(source.path), source.path, name, split)
        return _decode(inner, name, split)
    if source.kind == "official":
        return read_official(source.path, name, split)
    return read_image_folder(source.path / split)


def _load_cached(source: Source, name: str, split: str) -> ImageSet:
    """Decode ``source`` once into the cache, then always read the memory-mapped cache entry."""
    key = source_key(_key_paths(source, name, split), name, split)
    entry = cache_dir("cifar", f"{name}-{split}-{key}")
    if not entry.is_dir():
        images, labels, classes = _decode(source, name, split)
        validate_image_set(images, labels, NUM_CLASSES[name], f"{name} {split} from {source.path}")
        with atomic_dir(entry) as tmp:
            save_npy(tmp / "images.npy", images)
            save_npy(tmp / "labels.npy", labels.astype(np.int64))
            write_json(tmp / "classes.json", {"classes": list(classes), "source": str(source.path)})
    return ImageSet(
        np.load(entry / "images.npy", mmap_mode="r"),
        np.load(entry / "labels.npy"),
        tuple(read_json(entry / "classes.json")["classes"]),
    )


def _download(name: str, root: Path) -> str | None:
    """Ask torchvision for the official release in ``root``; return the error text on failure."""
    try:
        import torchvision.datasets

        dataset_class = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
        dataset_class(root=str(root), download=True)  # one archive holds both splits
    except Exception as err:  # offline, proxy, disk: the caller reports it with everything searched
        return f"{type(err).__name__}: {err}"
    return None


def _not_found_message(name: str, split: str, roots: list[Root], download: bool, download_error: str | None) -> str:
    if not download:
        tried = "Download was not attempted (download=False)."
    elif download_error:
        tried = f"Downloading with torchvision into {roots[0].path} failed: {download_error}"
    else:
        tried = "torchvision reported a successful download, but no layout was found afterwards."
    return (
        f"{name} {split} split not found. Searched, in order:\n{describe_roots(roots)}\n"
        "Accepted layouts in each folder:\n"
        f"  - {OFFICIAL_DIRS[name]}/ (the official python release)\n"
        f"  - an ImageFolder: train/<class>/*.png|jpg and test/<class>/..., directly in the folder "
        f"or in a subfolder such as {name}/\n"
        f"  - an archive {OFFICIAL_ARCHIVES[name]} or {name}*.tar.gz|.tgz|.tar.xz holding either layout\n"
        f"{tried}\n"
        f"Set ${DATA_ENV} to the folder that holds the data, or pass root=..."
    )
