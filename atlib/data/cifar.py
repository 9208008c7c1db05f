"""The reader of CIFAR-10/100 and of any dataset kept as image folders: every layout users have.

Layouts accepted in each searched root, in this order:
1. the official python release folder (``cifar-10-batches-py/`` or ``cifar-100-python/``), for the
   datasets that have one;
2. an ImageFolder (``train/<class>/*.png|jpg``, ``test/<class>/...``) directly in the root
   (used only when it has the dataset's number of classes, unless the root was named explicitly);
   then either layout in a subfolder named like the dataset (``cifar10``, ``cifar-10``, ``CIFAR100``...);
3. an archive ``cifar10*.tar.gz|.tgz|.tar.xz`` (``cifar-10-*`` too, e.g. the official
   ``cifar-10-python.tar.gz``) holding either layout, extracted once into the cache. An explicit root
   may be such an archive itself, whatever its name.
Official files keep the official row order; ImageFolders are ordered by class, then file name.
"""

from __future__ import annotations

import re
from pathlib import Path

from atlib.data.cache import extracted_archive
from atlib.data.imagefolder import class_dirs, read_image_folder
from atlib.data.imageset import ImageSet
from atlib.data.load import Source
from atlib.data.official import OFFICIAL_ARCHIVES, OFFICIAL_DIRS, official_paths, read_official
from atlib.datasets import DatasetInfo

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz")


def find(root: Path, info: DatasetInfo, split: str, explicit: bool) -> Source | None:
    """The first layout of the dataset in ``root`` (priority as in the module docstring), or None."""
    if root.is_file() and explicit and root.name.lower().endswith(ARCHIVE_SUFFIXES):
        return Source("archive", root)
    if not root.is_dir():
        return None
    if (found := _layout_in(root, info, split, strict=explicit)) is not None:
        return found
    pattern = _name_pattern(info.name)
    named = [p for p in sorted(root.iterdir(), key=lambda p: p.name) if pattern.match(p.name)]
    for folder in (p for p in named if p.is_dir()):
        if (found := _layout_in(folder, info, split, strict=True)) is not None:
            return found
    archive = next((p for p in named if p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)), None)
    return Source("archive", archive) if archive is not None else None


def key_paths(source: Source, info: DatasetInfo, split: str) -> list[Path]:
    if source.kind == "official":
        return official_paths(source.path, info.name, split)
    if source.kind == "imagefolder":
        split_dir = source.path / split
        return [split_dir, *class_dirs(split_dir)]  # a folder's mtime changes when files come or go
    return [source.path]


def read(source: Source, info: DatasetInfo, split: str) -> ImageSet:
    if source.kind == "archive":
        return read(_inside_archive(extracted_archive(source.path), source.path, info, split), info, split)
    if source.kind == "official":
        return read_official(source.path, info.name, split)
    return read_image_folder(source.path / split, info.image_size)


def layouts(info: DatasetInfo) -> list[str]:
    official = [f"{OFFICIAL_DIRS[info.name]}/ (the official python release)"] if info.name in OFFICIAL_DIRS else []
    archives = f"{OFFICIAL_ARCHIVES[info.name]} or " if info.name in OFFICIAL_ARCHIVES else ""
    return [
        *official,
        "an ImageFolder: train/<class>/*.png|jpg and test/<class>/..., directly in the folder "
        f"or in a subfolder such as {info.name}/",
        f"an archive {archives}{info.name}*.tar.gz|.tgz|.tar.xz holding either layout (or that archive as the root)",
    ]


def download(info: DatasetInfo, root: Path, split: str) -> None:
    """The official release through torchvision (one archive holds both splits)."""
    import torchvision.datasets

    classes = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
    if info.name not in classes:
        raise FileNotFoundError(f"torchvision has no download for {info.name}")
    classes[info.name](root=str(root), download=True)


def _name_pattern(name: str) -> re.Pattern[str]:
    """Folder and archive names that claim to be ``name``: case-insensitive, with an optional - or _ where
    letters meet digits (cifar10, CIFAR-10, cifar_10...), and no further digit (cifar10 is not cifar100)."""
    parts = re.findall(r"[a-z]+|\d+|[^a-z\d]+", name.lower())
    return re.compile("^" + "[-_]?".join(re.escape(p) for p in parts) + r"(?!\d)", re.IGNORECASE)


def _layout_in(folder: Path, info: DatasetInfo, split: str, strict: bool) -> Source | None:
    """The official release (``folder`` itself or its child) or an ImageFolder in ``folder``.

    An ImageFolder with another class count is an error when the folder claims to be the dataset
    (``strict``: it was named explicitly, is named so, or came out of an archive), else just 'not this dataset'.
    """
    if info.name in OFFICIAL_DIRS:
        official_dir = OFFICIAL_DIRS[info.name]
        official = folder if folder.name == official_dir else folder / official_dir
        if official.is_dir():
            return Source("official", official)
    split_dir = folder / split
    if not split_dir.is_dir():
        return None
    count = len(class_dirs(split_dir))
    if count == info.num_classes:
        return Source("imagefolder", folder)
    if strict:
        raise ValueError(f"{split_dir} has {count} class folders but {info.name} has {info.num_classes}")
    return None


def _inside_archive(folder: Path, archive: Path, info: DatasetInfo, split: str) -> Source:
    """The layout inside an extracted archive: at its top or one folder down."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (found := _layout_in(candidate, info, split, strict=True)) is not None:
            return found
    official = f"{OFFICIAL_DIRS[info.name]}/ nor " if info.name in OFFICIAL_DIRS else ""
    raise ValueError(f"{archive} holds neither {official}an ImageFolder with a {split}/ folder")
