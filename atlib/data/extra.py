"""Loaders for the evaluation and extra-training sets: CIFAR-10-NEG, generated data, CIFAR-C."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atlib.data.imageset import ImageSet, validate_image_set
from atlib.data.npzmap import npz_keys, npz_memmap
from atlib.data.sources import DATA_ENV, candidate_roots, describe_roots, find_path, side_folder
from atlib.datasets import CIFAR_C_CORRUPTIONS, CIFAR_C_SEVERITIES, DATASET_INFO, DatasetInfo, dataset_info

CIFAR10 = DATASET_INFO["cifar10"]
NEG_FILE = str(CIFAR10.neg_file)
CIFAR_C_SEARCH = "auto"  # a config's cifar_c_root that means: find CIFAR-C with the search rule


def _synthetic_format(image_size: int | None) -> str:
    side = "S, S" if image_size is None else f"{image_size}, {image_size}"
    return f"a .npz with 'image' uint8 (N, {side}, 3) and 'label' integer (N,) (Wang et al. 2023)"


def locate_cifar10_neg(path: str | Path | None = None, root: str | Path | None = None) -> Path:
    """The CIFAR-10-NEG file: ``path`` (the ``.npz`` or a folder holding ``CIFAR10_neg.npz``), else
    ``CIFAR10_neg.npz`` in ``root`` (e.g. the folder CIFAR-10 came from, or beside its archive), or without a
    root in the first of ``$ATLIB_DATA``, ``./data`` that holds it."""
    if path is None:
        roots = candidate_roots(root)
        found = next((f for r in roots if (f := side_folder(r.path) / NEG_FILE).is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"{NEG_FILE} not found in:\n{describe_roots(roots)}\n"
                f"Set ${DATA_ENV} to the folder holding it, or pass path=..."
            )
        return found
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        path = path / NEG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected the CIFAR-10-NEG file {NEG_FILE}")
    return path


def load_cifar10_neg(path: str | Path | None = None, root: str | Path | None = None) -> ImageSet:
    """CIFAR-10-NEG (Kaplun et al. 2022): ``data`` uint8 (1000, 32, 32, 3), ``labels``, CIFAR-10 classes,
    from :func:`locate_cifar10_neg`."""
    path = locate_cifar10_neg(path, root)
    keys = npz_keys(path)
    if not {"data", "labels"} <= set(keys):
        raise ValueError(f"{path}: expected keys 'data' uint8 (N, 32, 32, 3) and 'labels' (N,); found {keys}")
    with np.load(path) as npz:
        images, labels = npz["data"], npz["labels"]
    validate_image_set(images, labels, CIFAR10.num_classes, f"CIFAR-10-NEG {path}", CIFAR10.image_size)
    return ImageSet(images, labels.astype(np.int64), CIFAR10.classes)


def load_synthetic(path: str | Path, num_classes: int | None = None, image_size: int | None = None) -> ImageSet:
    """Generated training data as memory maps: reading only the rows a batch touches.

    An uncompressed ``.npz`` is mapped in place; a compressed one is converted once into the
    cache (see ``atlib.data.npzmap``). The file has no class names, so ``classes`` are the label
    numbers as strings (``num_classes`` of them, or max label + 1); label k means class k of the
    dataset it was generated for, whose ``image_size`` the images must have (None: any square size).
    Labels (8 bytes per image) are read into memory as int64.
    """
    path = Path(path)
    expected = _synthetic_format(image_size)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected {expected}")
    keys = npz_keys(path)
    if not {"image", "label"} <= set(keys):
        raise ValueError(f"{path}: expected {expected}; found keys {keys}")
    images, labels = npz_memmap(path, "image"), npz_memmap(path, "label")
    validate_image_set(images, labels, num_classes, f"synthetic data {path} (expected {expected})", image_size)
    labels = np.asarray(labels, dtype=np.int64)
    count = num_classes if num_classes is not None else int(labels.max()) + 1
    return ImageSet(images, labels, tuple(str(k) for k in range(count)))


def load_cifar_c(name: str, corruption: str, severity: int | None = None, root: str | Path | None = None) -> ImageSet:
    """One corruption of CIFAR-10-C / CIFAR-100-C, memory-mapped; ``severity`` 1..5 or None for all.

    The folder (the dataset's ``corrupted`` folder of ``atlib.datasets``, e.g. ``CIFAR-10-C/``, in ``root``
    or ``root`` itself; without a root in ``$ATLIB_DATA`` or ``./data``) holds ``<corruption>.npy`` uint8
    (5n, 32, 32, 3) and ``labels.npy`` (5n,): severity s is rows [(s-1)n, sn). The release has n = 10000;
    smaller generated sets work too.
    """
    info = corrupted_info(name)
    if corruption not in CIFAR_C_CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; expected one of: {', '.join(CIFAR_C_CORRUPTIONS)}")
    if severity is not None and severity not in CIFAR_C_SEVERITIES:
        raise ValueError(f"severity must be one of 1..5 or None (all five); got {severity!r}")
    folder = locate_cifar_c(name, root)
    file = folder / f"{corruption}.npy"
    if not file.is_file():
        raise FileNotFoundError(f"{folder} has no {corruption}.npy; the release has one .npy per corruption")
    images, labels = np.load(file, mmap_mode="r"), np.load(folder / "labels.npy", mmap_mode="r")
    validate_image_set(images, labels, info.num_classes, f"{info.corrupted} {file}", info.image_size)
    if len(labels) % 5:
        raise ValueError(f"{file}: {len(labels)} rows is not 5 severities of equal size")
    per_severity = len(labels) // 5
    blocks = np.asarray(labels, dtype=np.int64).reshape(5, per_severity)
    if not (blocks == blocks[0]).all():
        raise ValueError(f"{folder / 'labels.npy'}: the five severity blocks must repeat the same labels")
    rows = slice(None) if severity is None else slice((severity - 1) * per_severity, severity * per_severity)
    return ImageSet(images[rows], blocks.reshape(-1)[rows].copy(), info.classes)


def corrupted_info(name: str) -> DatasetInfo:
    """The table's entry for ``name``, which must have a corrupted version (CIFAR-10-C, CIFAR-100-C)."""
    info = dataset_info(name)
    if info.corrupted is None:
        with_one = [n for n, i in DATASET_INFO.items() if i.corrupted is not None]
        raise ValueError(f"{name} has no corrupted version (CIFAR-C exists for {', '.join(with_one)})")
    return info


def locate_cifar_c(name: str, root: str | Path | None = None) -> Path:
    """The corrupted version's folder of ``name`` (its ``corrupted`` name in ``atlib.datasets``, e.g.
    ``CIFAR-10-C/``, holding ``labels.npy``): ``root``'s child of that name or ``root`` itself; without a root,
    that child in each folder of the search rule (``$ATLIB_DATA``, ``./data``)."""
    info = corrupted_info(name)
    roots = candidate_roots(root)
    folder = str(info.corrupted)
    candidates = [side_folder(r.path) / folder for r in roots]
    if root is not None:
        candidates.append(roots[0].path)  # the explicit root may be the corruption folder itself
    found = next((c for c in candidates if (c / "labels.npy").is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"{folder} not found. Searched:\n{describe_roots(roots)}\n"
            f"Expected {folder}/ (or the root itself) holding labels.npy and one "
            f"<corruption>.npy per corruption. Set ${DATA_ENV} or pass root=..."
        )
    return found


def resolve_cifar_c(name: str, cifar_c_root: str | Path) -> Path:
    """The CIFAR-C folder a config's ``cifar_c_root`` names: ``"auto"`` finds it with the search rule; a path is
    read as :func:`atlib.data.sources.find_path` does (relative paths also under the data folders)."""
    if str(cifar_c_root) == CIFAR_C_SEARCH:
        return locate_cifar_c(name)
    return locate_cifar_c(name, find_path(cifar_c_root) or cifar_c_root)
