"""Datasets in every format users have, as uint8 arrays, and device-resident batches.

Nothing outside this package knows file formats; what each dataset is (classes, size, reader) is in the
table ``atlib.datasets``. Modules: ``imageset`` (the ImageSet type), ``sources``/``cache`` (where data and
cache live), ``load`` (``load_dataset``: search, decode once, cache), the readers the table names (e.g.
``cifar``: CIFAR pickles, ImageFolders and archives, with ``official`` and ``imagefolder``), ``npzmap`` and
``extra`` (CIFAR-10-NEG, generated data, CIFAR-C), ``mixing``/``augment``/``loader`` (batches on the device).
The torch-based names (``Batch``, ``DeviceLoader``) are imported on first use, so code that only
needs the NumPy loaders never imports torch.
"""

from typing import Any

from atlib.data.extra import load_cifar10_neg, load_cifar_c, load_synthetic
from atlib.data.imageset import ImageSet, validate_image_set
from atlib.data.load import load_dataset

__all__ = [
    "Batch",
    "DeviceLoader",
    "ImageSet",
    "load_cifar10_neg",
    "load_cifar_c",
    "load_dataset",
    "load_synthetic",
    "validate_image_set",
]


def __getattr__(name: str) -> Any:
    if name in ("Batch", "DeviceLoader"):
        from atlib.data import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'atlib.data' has no attribute {name!r}")
