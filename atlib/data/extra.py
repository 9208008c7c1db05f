"""Loaders for the evaluation and extra-training sets: CIFAR-10-NEG, generated data, CIFAR-C."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atlib.data.constants import CIFAR_C_CORRUPTIONS, CIFAR_C_SEVERITIES, CLASS_NAMES, NUM_CLASSES, check_dataset
from atlib.data.imageset import ImageSet, validate_image_set
from atlib.data.npzmap import npz_keys, npz_memmap
from atlib.data.sources import DATA_ENV, candidate_roots, describe_roots, find_path

NEG_FILE = "CIFAR10_neg.npz"
CIFAR_C_DIRS: dict[str, str] = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}
CIFAR_C_SEARCH = "auto"  # a config's cifar_c_root that means: find CIFAR-C with the search rule
_SYNTHETIC_FORMAT = "a .npz with 'image' uint8 (N, 32, 32, 3) and 'label' integer (N,) (Wang et al. 2023)"


def locate_cifar10_neg(path: str | Path | None = None, root: str | Path | None = None) -> Path:
    """The CIFAR-10-NEG file: ``path`` (the ``.npz`` or a folder holding ``CIFAR10_neg.npz``), else the
    first of ``root`` (e.g. the folder CIFAR-10 came from), ``$ATLIB_DATA``, ``./data``, ``../shared/data``
    that holds it."""
    if path is None:
        roots = candidate_roots(root)
        found = next((r.path / NEG_FILE for r in roots if (r.path / NEG_FILE).is_file()), None)
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
    validate_image_set(images, labels, NUM_CLASSES["cifar10"], f"CIFAR-10-NEG {path}")
    return ImageSet(images, labels.astype(np.int64), CLASS_NAMES["cifar10"])


def load_synthetic(path: str | Path, num_classes: int | None = None) -> ImageSet:
    """Generated training data as memory maps: reading only the rows a batch touches.

    An uncompressed ``.npz`` is mapped in place; a compressed one is converted once into the
    cache (see ``atlib.data.npzmap``). The file has no class names, so ``classes`` are the label
    numbers as strings (``num_classes`` of them, or max label + 1); label k means class k of the
    dataset it was generated for. Labels (8 bytes per image) are read into memory as int64.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected {_SYNTHETIC_FORMAT}")
    keys = npz_keys(path)
    if not {"image", "label"} <= set(keys):
        raise ValueError(f"{path}: expected {_SYNTHETIC_FORMAT}; found keys {keys}")
    images, labels = npz_memmap(path, "image"), npz_memmap(path, "label")
    validate_image_set(images, labels, num_classes, f"synthetic data {path} (expected {_SYNTHETIC_FORMAT})")
    labels = np.asarray(labels, dtype=np.int64)
    count = num_classes if num_classes is not None else int(labels.max()) + 1
    return ImageSet(images, labels, tuple(str(k) for k in range(count)))


def load_cifar_c(name: str, corruption: str, severity: int | None = None, root: str | Path | None = None) -> ImageSet:
    """One corruption of CIFAR-10-C / CIFAR-100-C, memory-mapped; ``severity`` 1..5 or None for all.

    The folder (``CIFAR-10-C/`` or ``CIFAR-100-C/`` in ``root``, ``$ATLIB_DATA`` or ``./data``, or
    ``root`` itself) holds ``<corruption>.npy`` uint8 (5n, 32, 32, 3) and ``labels.npy`` (5n,):
    severity s is rows [(s-1)n, sn). The release has n = 10000; smaller generated sets work too.
    """
    check_dataset(name)
    if corruption not in CIFAR_C_CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; expected one of: {', '.join(CIFAR_C_CORRUPTIONS)}")
    if severity is not None and severity not in CIFAR_C_SEVERITIES:
        raise ValueError(f"severity must be one of 1..5 or None (all five); got {severity!r}")
    folder = locate_cifar_c(name, root)
    file = folder / f"{corruption}.npy"
    if not file.is_file():
        raise FileNotFoundError(f"{folder} has no {corruption}.npy; the release has one .npy per corruption")
    images, labels = np.load(file, mmap_mode="r"), np.load(folder / "labels.npy", mmap_mode="r")
    validate_image_set(images, labels, NUM_CLASSES[name], f"{CIFAR_C_DIRS[name]} {file}")
    if len(labels) % 5:
        raise ValueError(f"{file}: {len(labels)} rows is not 5 severities of equal size")
    per_severity = len(labels) // 5
    blocks = np.asarray(labels, dtype=np.int64).reshape(5, per_severity)
    if not (blocks == blocks[0]).all():
        raise ValueError(f"{folder / 'labels.npy'}: the five severity blocks must repeat the same labels")
    rows = slice(None) if severity is None else slice((severity - 1) * per_severity, severity * per_severity)
    return ImageSet(images[rows], blocks.reshape(-1)[rows].copy(), CLASS_NAMES[name])


def locate_cifar_c(name: str, root: str | Path | None = None) -> Path:
    """The CIFAR-C folder of ``name`` (``CIFAR-10-C/`` or ``CIFAR-100-C/`` holding ``labels.npy``): ``root`` itself or
    its ``CIFAR-10-C/`` child, then that child in each folder of the search rule (``$ATLIB_DATA``, ``./data``)."""
    check_dataset(name)
    roots = candidate_roots(root)
    candidates = [r.path / CIFAR_C_DIRS[name] for r in roots]
    if root is not None:
        candidates.insert(1, roots[0].path)  # the explicit root may be the corruption folder itself
    found = next((c for c in candidates if (c / "labels.npy").is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"{CIFAR_C_DIRS[name]} not found. Searched:\n{describe_roots(roots)}\n"
            f"Expected {CIFAR_C_DIRS[name]}/ (or the root itself) holding labels.npy and one "
            f"<corruption>.npy per corruption. Set ${DATA_ENV} or pass root=..."
        )
    return found


def resolve_cifar_c(name: str, cifar_c_root: str | Path) -> Path:
    """The CIFAR-C folder a config's ``cifar_c_root`` names: ``"auto"`` finds it with the search rule; a path is
    read as :func:`atlib.data.sources.find_path` does (relative paths also under the data folders)."""
    if str(cifar_c_root) == CIFAR_C_SEARCH:
        return locate_cifar_c(name)
    return locate_cifar_c(name, find_path(cifar_c_root) or cifar_c_root)
