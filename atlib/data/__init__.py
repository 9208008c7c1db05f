"""Datasets in every format users have, as uint8 arrays, and device-resident batches.

Nothing outside this package knows file formats. Modules: ``constants`` (names), ``imageset``
(the ImageSet type), ``sources``/``cache`` (where data and cache live), ``official``,
``imagefolder`` and ``cifar`` (CIFAR-10/100), ``npzmap`` and ``extra`` (CIFAR-10-NEG, generated
data, CIFAR-C), ``mixing``/``augment``/``loader`` (batches on the device).
The torch-based names (``Batch``, ``DeviceLoader``) are imported on first use, so code that only
needs the constants or the NumPy loaders never imports torch.
"""

from typing import Any

from atlib.data.cifar import load_cifar
from atlib.data.constants import CIFAR_C_COMMON, CIFAR_C_CORRUPTIONS, CLASS_NAMES, DATASETS, NUM_CLASSES
from atlib.data.extra import load_cifar10_neg, load_cifar_c, load_synthetic
from atlib.data.imageset import ImageSet, validate_image_set

__all__ = [
    "CIFAR_C_COMMON",
    "CIFAR_C_CORRUPTIONS",
    "CLASS_NAMES",
    "DATASETS",
    "NUM_CLASSES",
    "Batch",
    "DeviceLoader",
    "ImageSet",
    "load_cifar",
    "load_cifar10_neg",
    "load_cifar_c",
    "load_synthetic",
    "validate_image_set",
]


def __getattr__(name: str) -> Any:
    if name in ("Batch", "DeviceLoader"):
        from atlib.data import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'atlib.data' has no attribute {name!r}")
