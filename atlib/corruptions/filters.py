"""Batched ports of the creation script's image-filter helpers: skimage's Gaussian, ``clipped_zoom``
(scipy.ndimage.zoom, order 1) and the antialiased defocus disk.

The filters take a batch and treat each image independently, so one NumPy call replaces the
script's per-image call.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def gaussian(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """``skimage.filters.gaussian(img, sigma, channel_axis=-1)`` for every image of a float batch.

    skimage calls ``scipy.ndimage.gaussian_filter`` with sigma 0 on the channel axis; here the batch
    axis gets sigma 0 too. Defaults are skimage's (mode 'nearest', truncate 4).
    """
    sigmas = (0.0, sigma, sigma) + (0.0,) * (x.ndim - 3)
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


def clipped_zoom(planes: np.ndarray, zoom: float) -> np.ndarray:
    """The script's ``clipped_zoom`` on a stack of planes (..., H, H): crop the centre
    ``ceil(H / zoom)`` square, zoom it with ``scipy.ndimage.zoom(order=1)``, keep the centre H x H.

    Order-1 zoom is separable linear interpolation, so the whole operation is ``A @ plane @ A.T``
    with ``A = zoom_matrix(H, zoom)``, computed in float64 and returned in the input dtype, as
    scipy does; the result matches scipy to float rounding.
    """
    a = zoom_matrix(planes.shape[-1], zoom)
    return (a @ planes.astype(np.float64, copy=False) @ a.T).astype(planes.dtype, copy=False)


def zoom_matrix(size: int, zoom: float) -> np.ndarray:
    """``clipped_zoom`` along one axis as a (size, size) matrix: output pixel i takes two
    neighbouring input pixels with linear weights.

    scipy's rules: the crop of ``ceil(size / zoom)`` pixels zooms to ``round(crop * zoom)`` pixels,
    output index k samples input coordinate ``k * (crop - 1) / (zoomed - 1)``.
    """
    crop = int(np.ceil(size / zoom))
    top = (size - crop) // 2
    zoomed = int(round(crop * zoom))
    trim = (zoomed - size) // 2
    coords = np.arange(trim, trim + size) * ((crop - 1) / (zoomed - 1))
    left = np.minimum(np.floor(coords).astype(np.intp), crop - 2)
    weight = coords - left
    matrix = np.zeros((size, size))
    rows = np.arange(size)
    matrix[rows, top + left] = 1 - weight
    matrix[rows, top + left + 1] = weight
    return matrix


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel: a normalised disk on the script's ``arange(-8, 9)`` grid, antialiased by
    a 3x3 ``cv2.GaussianBlur`` (the script's branch for radius <= 8, which covers every CIFAR severity).

    With radius < 1 the disk is a single pixel, so the kernel is just the 3x3 Gaussian.
    """
    if radius > 8:
        raise ValueError(f"disk radius {radius} > 8 is outside the CIFAR parameters this port covers")
    grid = np.arange(-8, 8 + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    disk /= np.sum(disk)
    return cv2.GaussianBlur(disk, ksize=(3, 3), sigmaX=alias_blur)
