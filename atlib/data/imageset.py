"""The one in-memory form every loader returns, and its validation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ImageSet(NamedTuple):
    """Images with labels and class names; unpacks as ``images, labels, classes``.

    ``images`` is uint8 (N, S, S, 3) HWC RGB, S the dataset's ``image_size`` in ``atlib.datasets`` (32 for
    CIFAR and SVHN), and may be a read-only ``np.memmap``, so large sets cost no resident memory until rows
    are touched. ``labels`` is int64 (N,).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]


def validate_image_set(images: np.ndarray, labels: np.ndarray, num_classes: int | None, what: str,
                       image_size: int | None = None) -> None:
    """Raise a ValueError naming ``what`` unless images/labels have the ImageSet format.

    ``image_size`` None accepts any square size (the caller compares sets with each other). Checks only
    metadata plus one min/max pass over the labels (never the pixels), so it is cheap even for a
    memory-mapped million-image file. Labels may be any integer dtype; loaders cast them to int64 afterwards.
    """
    side = "S, S" if image_size is None else f"{image_size}, {image_size}"
    expected = f"images uint8 (N, {side}, 3) HWC RGB and labels integer (N,)"
    shape = getattr(images, "shape", ())
    square = len(shape) == 4 and shape[1] == shape[2] and shape[3] == 3
    images_ok = (isinstance(images, np.ndarray) and images.dtype == np.uint8 and square
                 and (image_size is None or shape[1] == image_size))
    if not images_ok:
        got = f"{getattr(images, 'dtype', type(images).__name__)} {shape}"
        raise ValueError(f"{what}: expected {expected}; images are {got}")
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        got = f"{getattr(labels, 'dtype', type(labels).__name__)} {getattr(labels, 'shape', '')}"
        raise ValueError(f"{what}: expected {expected}; labels are {got}")
    if len(images) != len(labels):
        raise ValueError(f"{what}: {len(images)} images but {len(labels)} labels; they must match")
    if len(images) == 0:
        raise ValueError(f"{what}: the set is empty")
    if num_classes is not None:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{what}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes; "
                f"found values in [{low}, {high}]"
            )
