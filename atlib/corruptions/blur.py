"""Blur corruptions: defocus, glass, motion, zoom and Gaussian.

Each takes uint8 images (N, 32, 32, 3), a severity 1..5 and a Generator, and returns the script's
result in [0, 255] (float, or uint8 for motion blur, which the release decoded from a PNG).
"""

from __future__ import annotations

import cv2
import numpy as np

from atlib.corruptions.filters import clipped_zoom, disk_kernel, gaussian
from atlib.corruptions.motion import motion_blur as imagemagick_motion_blur
from atlib.corruptions.params import IMSIZE, PARAMS


def defocus_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """``cv2.filter2D`` with the antialiased disk, per image (OpenCV filters all channels alike)."""
    radius, alias_blur = PARAMS["defocus_blur"][severity - 1]
    kernel = disk_kernel(radius, alias_blur)
    x = images / 255.0
    blurred = np.stack([cv2.filter2D(image, -1, kernel) for image in x])
    return np.clip(blurred, 0, 1) * 255


def glass_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, local pixel "swaps", Gaussian blur again.

    Release quirk kept: the script's swap ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` acts on NumPy
    views, so it copies pixel (h', w') onto (h, w) and leaves (h', w') unchanged. Offsets come
    from ``randint(-max_delta, max_delta)`` (upper bound excluded) and the scan runs over
    ``range(32 - max_delta, max_delta, -1)`` in both axes (hard-coded 32). The scan stays
    sequential over positions, as in the script, and each step is vectorised over the batch.
    """
    sigma, max_delta, iterations = PARAMS["glass_blur"][severity - 1]
    # truncation to uint8 between the passes, as the script's np.uint8(... * 255)
    x = (gaussian(images / 255.0, sigma) * 255).astype(np.uint8)
    positions = range(IMSIZE - max_delta, max_delta, -1)
    batch = np.arange(len(x))
    for _ in range(iterations):
        offsets = rng.integers(-max_delta, max_delta, size=(len(positions), len(positions), 2, len(x)))
        for i, h in enumerate(positions):
            for j, w in enumerate(positions):
                dx, dy = offsets[i, j]
                x[:, h, w] = x[batch, h + dy, w + dx]
    return np.clip(gaussian(x / 255.0, sigma), 0, 1) * 255


def motion_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick's motion blur (ported, see ``atlib.corruptions.motion``), angle ~ U(-45, 45)."""
    radius, sigma = PARAMS["motion_blur"][severity - 1]
    return imagemagick_motion_blur(images, radius, sigma, rng.uniform(-45, 45, size=len(images)))


def zoom_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Mean of the image and its clipped zooms by each factor of ``np.arange(1, e, 0.01)``,
    summed in float32 as the script does."""
    x = (images / 255.0).astype(np.float32)
    planes = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # each channel zooms on its own
    out = np.zeros_like(planes)
    factors = PARAMS["zoom_blur"][severity - 1]
    for factor in factors:
        out += clipped_zoom(planes, factor)
    return np.clip((x + out.transpose(0, 2, 3, 1)) / (len(factors) + 1), 0, 1) * 255


def gaussian_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = PARAMS["gaussian_blur"][severity - 1]
    return np.clip(gaussian(images / 255.0, sigma), 0, 1) * 255
