"""A NumPy / OpenCV port of ImageMagick's ``MotionBlurImage``, used by motion_blur and snow.

The release called MagickMotionBlurImage through Wand; ImageMagick is not a dependency here.
ImageMagick's motion blur is one-sided: output pixel (x, y) is the weighted sum of the input at
(x + ox_i, y + oy_i) for i = 0 .. width-1, where

- ``width = 2 * ceil(radius) + 1`` (GetOptimalKernelWidth1D for radius > 0);
- ``k_i`` is proportional to ``exp(-i^2 / (2 sigma^2))`` and normalised to sum 1;
- ``ox_i = ceil(i cos(angle) - 0.5)``, ``oy_i = ceil(i sin(angle) - 0.5)`` (y points down), so
  the samples trail from the pixel itself along the angle and two steps may land on one pixel;
- samples outside the image take the nearest edge pixel (the default 'edge' virtual pixels);
- the sum is rounded to the nearest 8-bit value when the result is written back as PNG.

Where it can differ from the release: ImageMagick builds keep a 16-bit (Q16) or floating (HDRI)
intermediate, so a sum within ~0.002 of a half-integer may round the other way; older or newer
ImageMagick versions may change the width rule or the virtual-pixel default.
"""

from __future__ import annotations

import cv2
import numpy as np

_SQ2PI = 2.50662827463100024161235523934010416269302368164062  # ImageMagick's MagickSQ2PI


def motion_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick's one-sided Gaussian weights k_0 .. k_{width-1}, summing to 1."""
    width = int(2.0 * np.ceil(radius) + 1.0)
    steps = np.arange(width, dtype=np.float64)
    kernel = np.exp(-(steps * steps) / (2.0 * sigma * sigma)) / (_SQ2PI * sigma)
    return kernel / kernel.sum()


def motion_offsets(width: int, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image (dy, dx) integer offsets, each (N, width), for ``angles`` in degrees."""
    theta = np.pi * np.asarray(angles, dtype=np.float64)[:, None] / 180.0
    point_x, point_y = width * np.sin(theta), width * np.cos(theta)
    norm = np.hypot(point_x, point_y)
    steps = np.arange(width, dtype=np.float64)
    dx = np.ceil(steps * point_y / norm - 0.5).astype(np.intp)
    dy = np.ceil(steps * point_x / norm - 0.5).astype(np.intp)
    return dy, dx


def motion_blur(images: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """Blur each uint8 image of (N, H, W) or (N, H, W, C) along its own angle (degrees); uint8 out.

    Each image's taps become a small 2-D kernel (offsets that land on one pixel add up), applied
    by ``cv2.filter2D`` in float64 with replicated borders: the same weighted sum, one OpenCV call
    per image.
    """
    kernel = motion_kernel(radius, sigma)
    dy, dx = motion_offsets(len(kernel), angles)
    out = np.empty(images.shape, dtype=np.float64)
    for k, image in enumerate(images):
        top, left = dy[k].min(), dx[k].min()
        taps = np.zeros((dy[k].max() - top + 1, dx[k].max() - left + 1))
        np.add.at(taps, (dy[k] - top, dx[k] - left), kernel)
        out[k] = cv2.filter2D(image, cv2.CV_64F, taps, anchor=(-left, -top), borderType=cv2.BORDER_REPLICATE)
    return np.floor(out + 0.5).clip(0, 255).astype(np.uint8)
