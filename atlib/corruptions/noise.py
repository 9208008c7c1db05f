"""Noise corruptions: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle.

Each takes uint8 images (N, 32, 32, 3), a severity 1..5 and a Generator, and returns the script's
float result in [0, 255]; one vectorised draw covers the whole batch.
"""

from __future__ import annotations

import numpy as np
from skimage.util import random_noise

from atlib.corruptions.params import PARAMS


def gaussian_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = PARAMS["gaussian_noise"][severity - 1]
    x = images / 255.0
    return np.clip(x + rng.normal(scale=sigma, size=x.shape), 0, 1) * 255


def shot_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    rate = PARAMS["shot_noise"][severity - 1]
    x = images / 255.0
    return np.clip(rng.poisson(x * rate) / rate, 0, 1) * 255


def impulse_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    amount = PARAMS["impulse_noise"][severity - 1]
    x = random_noise(images / 255.0, mode="s&p", amount=amount, rng=rng)  # per value, so batch-safe
    return np.clip(x, 0, 1) * 255


def speckle_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = PARAMS["speckle_noise"][severity - 1]
    x = images / 255.0
    return np.clip(x + x * rng.normal(scale=sigma, size=x.shape), 0, 1) * 255
