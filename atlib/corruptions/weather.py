"""Weather corruptions: snow, frost and fog.

Each takes uint8 images (N, 32, 32, 3), a severity 1..5 and a Generator, and returns the script's
float result in [0, 255].
"""

from __future__ import annotations

import cv2
import numpy as np

from atlib.corruptions.filters import clipped_zoom
from atlib.corruptions.motion import motion_blur
from atlib.corruptions.params import IMSIZE, PARAMS
from atlib.corruptions.plasma import plasma_fractal
from atlib.corruptions.textures import frost_textures


def snow(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A thresholded, zoomed noise layer, motion-blurred at U(-135, -45) degrees, added twice
    (as is and rotated 180 degrees) to the image brightened towards its grey level."""
    loc, scale, zoom, threshold, radius, sigma, blend = PARAMS["snow"][severity - 1]
    x = images.astype(np.float32) / 255
    n = len(x)
    layer = clipped_zoom(rng.normal(loc, scale, size=(n, IMSIZE, IMSIZE)), zoom)
    layer[layer < threshold] = 0
    # the script round-trips the layer through an 8-bit greyscale PNG (truncating cast)
    layer_u8 = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    layer = motion_blur(layer_u8, radius, sigma, rng.uniform(-135, -45, size=n))[..., None] / 255.0
    grey = cv2.cvtColor(x.reshape(-1, IMSIZE, 3), cv2.COLOR_RGB2GRAY).reshape(n, IMSIZE, IMSIZE, 1)
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2, axes=(1, 2)), 0, 1) * 255


def frost(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A random 32x32 crop of one of the first five frost textures, mixed in with fixed weights."""
    image_weight, frost_weight = PARAMS["frost"][severity - 1]
    textures = frost_textures()
    n = len(images)
    choice = rng.integers(len(textures), size=n)
    heights = np.array([t.shape[0] for t in textures])[choice]
    widths = np.array([t.shape[1] for t in textures])[choice]
    top, left = rng.integers(0, heights - IMSIZE), rng.integers(0, widths - IMSIZE)
    crops = np.empty_like(images)
    offsets = np.arange(IMSIZE)
    for k, texture in enumerate(textures):
        chosen = np.flatnonzero(choice == k)
        rows = (top[chosen, None] + offsets)[:, :, None]
        cols = (left[chosen, None] + offsets)[:, None, :]
        crops[chosen] = texture[rows, cols]
    return np.clip(image_weight * images + frost_weight * crops, 0, 255)


def fog(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Add a plasma fractal, then rescale by max / (max + strength) with the image's own maximum."""
    strength, wibbledecay = PARAMS["fog"][severity - 1]
    x = images / 255.0
    max_val = x.max(axis=(1, 2, 3), keepdims=True)
    x = x + strength * plasma_fractal(len(x), IMSIZE, wibbledecay, rng)[..., None]
    return np.clip(x * max_val / (max_val + strength), 0, 1) * 255
