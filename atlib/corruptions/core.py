"""The corruption registry and ``corrupt``: validation, seeding and the release's uint8 cast."""

from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

from atlib.corruptions.blur import defocus_blur, gaussian_blur, glass_blur, motion_blur, zoom_blur
from atlib.corruptions.digital import (
    brightness, contrast, elastic_transform, jpeg_compression, pixelate, saturate, spatter,
)  # fmt: skip
from atlib.corruptions.noise import gaussian_noise, impulse_noise, shot_noise, speckle_noise
from atlib.corruptions.params import IMSIZE
from atlib.corruptions.weather import fog, frost, snow

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

# The 19 released files, in the canonical order. Each function maps uint8 (N, 32, 32, 3), a
# severity 1..5 and a Generator to the script's pre-cast result in [0, 255].
CORRUPTIONS: dict[str, Corruption] = {
    f.__name__: f
    for f in (
        gaussian_noise, shot_noise, impulse_noise,
        defocus_blur, glass_blur, motion_blur, zoom_blur,
        snow, frost, fog,
        brightness, contrast, elastic_transform, pixelate, jpeg_compression,
        speckle_noise, gaussian_blur, spatter, saturate,
    )
}  # fmt: skip
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
# Images are corrupted in blocks of this many, each with its own random stream, so that the
# generator can split the work across processes and still write exactly what ``corrupt`` returns.
BLOCK_SIZE = 1000
IMAGE_SHAPE = (IMSIZE, IMSIZE, 3)


def corrupt(images: np.ndarray, corruption: str, severity: int, seed: int = 0) -> np.ndarray:
    """Corrupt uint8 RGB images, (N, 32, 32, 3) or one (32, 32, 3), at ``severity`` 1..5.

    Deterministic for (images, corruption, severity, seed): never touches the global ``np.random``.
    Returns uint8 of the input's shape.
    """
    batch = check_images(images)
    check_request(corruption, severity, seed)
    out = np.empty_like(batch)
    for block, start in enumerate(range(0, len(batch), BLOCK_SIZE)):
        stop = start + BLOCK_SIZE
        out[start:stop] = corrupt_block(batch[start:stop], corruption, severity, seed, block)
    return out if np.ndim(images) == 4 else out[0]


def corrupt_block(images: np.ndarray, corruption: str, severity: int, seed: int, block: int) -> np.ndarray:
    """Corrupt one block of at most BLOCK_SIZE validated images with the block's own stream."""
    rng = np.random.default_rng([seed, zlib.crc32(corruption.encode()), severity, block])
    values = CORRUPTIONS[corruption](images, severity, rng)
    # The release stored np.uint8(corruption(x)): the float result, already clipped to [0, 255],
    # is truncated toward zero, not rounded (PIL- and PNG-based results are uint8 already).
    return values.astype(np.uint8)


def check_images(images: np.ndarray) -> np.ndarray:
    """Return ``images`` as a (N, 32, 32, 3) uint8 batch view, or raise a ValueError saying what is expected."""
    if not isinstance(images, np.ndarray):
        raise ValueError(f"images must be a NumPy uint8 array; got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 in [0, 255]; got dtype {images.dtype} "
            "(from floats in [0, 1]: (x * 255).round().astype(np.uint8))"
        )
    if images.shape[-3:] != IMAGE_SHAPE or images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, 32, 32, 3) or (32, 32, 3) (HWC RGB); got {images.shape}")
    return images.reshape(-1, *IMAGE_SHAPE)


def check_request(corruption: str, severity: int, seed: int) -> None:
    """Raise a ValueError for an unknown corruption, a severity outside 1..5 or a bad seed."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; expected one of: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer in 1..5; got {severity!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
