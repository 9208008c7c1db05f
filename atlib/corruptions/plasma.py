"""The creation script's diamond-square plasma fractal (used by fog), batched over images.

Ported to NumPy 2 (the script allocated with the removed ``np.float_``). Kept quirk: the random
displacement is ``wibble * U(-wibble, wibble)``, i.e. of size wibble**2, with wibble starting at
100 and divided by ``wibbledecay`` after each level.
"""

from __future__ import annotations

import numpy as np


def plasma_fractal(n: int, mapsize: int, wibbledecay: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` independent (mapsize, mapsize) height maps scaled to [0, 1]; mapsize a power of two.

    The map wraps around (``np.roll``), as in the script. Axis 0 of the batch is the image.
    """
    if mapsize < 2 or mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two >= 2; got {mapsize}")
    maps = np.empty((n, mapsize, mapsize), dtype=np.float64)
    maps[:, 0, 0] = 0
    step, wibble = mapsize, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        # squares: each centre gets the mean of its four corners
        corners = maps[:, 0::step, 0::step]
        square_sum = corners + np.roll(corners, -1, axis=1)
        square_sum += np.roll(square_sum, -1, axis=2)
        maps[:, half::step, half::step] = wibbled_mean(square_sum)
        # diamonds: edge midpoints from the two neighbouring centres and two corners
        centres = maps[:, half::step, half::step]
        horizontal = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=2))
        maps[:, 0::step, half::step] = wibbled_mean(horizontal)
        vertical = (centres + np.roll(centres, 1, axis=2)) + (corners + np.roll(corners, -1, axis=1))
        maps[:, half::step, 0::step] = wibbled_mean(vertical)
        step //= 2
        wibble /= wibbledecay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)
