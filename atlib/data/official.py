"""Reader for the official CIFAR python release (``cifar-10-batches-py/``, ``cifar-100-python/``).

The batches are Python-2 pickles of dicts holding ``data`` uint8 (N, 3072) in CHW row order
plus label lists. They are unpickled with an allow-list of globals, so a tampered file can
only build NumPy arrays, never run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from atlib.data.imageset import ImageSet

OFFICIAL_DIRS: dict[str, str] = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
OFFICIAL_ARCHIVES: dict[str, str] = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}
_BATCHES: dict[str, dict[str, tuple[str, ...]]] = {
    "cifar10": {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
    "cifar100": {"train": ("train",), "test": ("test",)},
}
_META: dict[str, tuple[str, str]] = {  # file, key of the class names
    "cifar10": ("batches.meta", "label_names"),
    "cifar100": ("meta", "fine_label_names"),
}
_LABEL_KEY: dict[str, str] = {"cifar10": "labels", "cifar100": "fine_labels"}
_ALLOWED_GLOBALS: dict[tuple[str, str], tuple[str, str]] = {
    # Python-2 era files name numpy.core; NumPy 2 moved it to numpy._core.
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


def official_paths(folder: Path, name: str, split: str) -> list[Path]:
    """The files of ``folder`` that ``split`` needs (batches, then meta); error if any is missing."""
    paths = [folder / f for f in (*_BATCHES[name][split], _META[name][0])]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is an incomplete official {name} release: missing {', '.join(missing)}; "
            f"re-download and extract {OFFICIAL_ARCHIVES[name]}"
        )
    return paths


def read_official(folder: Path, name: str, split: str) -> ImageSet:
    """Decode ``split`` of the official release in ``folder``, keeping the official row order."""
    official_paths(folder, name, split)
    meta_file, names_key = _META[name]
    classes = tuple(str(c) for c in _field(_unpickle(folder / meta_file), names_key, folder / meta_file))
    images, labels = [], []
    for batch in _BATCHES[name][split]:
        path = folder / batch
        entry = _unpickle(path)
        data = np.asarray(_field(entry, "data", path))
        batch_labels = np.asarray(_field(entry, _LABEL_KEY[name], path), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(batch_labels):
            raise ValueError(
                f"{path}: not an official CIFAR batch (data {data.dtype} {data.shape}, "
                f"{len(batch_labels)} labels; expected uint8 (N, 3072) and N labels)"
            )
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    return ImageSet(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), classes)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(*_ALLOWED_GLOBALS[module, name])


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            entry = _ArrayOnlyUnpickler(f, encoding="latin1").load()
    except Exception as err:  # any failure to unpickle means the file is unusable
        raise ValueError(
            f"{path} is corrupt or incomplete (cannot unpickle: {type(err).__name__}: {err}); "
            "delete it and re-download the official CIFAR archive"
        ) from err
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: not an official CIFAR file (holds a {type(entry).__name__}, not a dict)")
    return entry


def _field(entry: dict[str, Any], key: str, path: Path) -> Any:
    if key not in entry:
        raise ValueError(f"{path}: not an official CIFAR file (no {key!r}; has {sorted(entry)})")
    return entry[key]
