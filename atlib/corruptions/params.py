"""The published 32x32 CIFAR-10-C / CIFAR-100-C parameters, severity 1 -> 5 (Hendrycks & Dietterich, 2019).

One tuple of five entries per corruption, indexed ``PARAMS[name][severity - 1]``; the meaning of
each entry is given beside it. Kept apart from the code so that the numbers can be checked against
the published table at a glance.
"""

from __future__ import annotations

import numpy as np

IMSIZE = 32  # the creation script hard-codes the CIFAR image size in several corruptions

PARAMS: dict[str, tuple] = {
    # sigma of additive N(0, sigma) on [0, 1]
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    # Poisson rate c: poisson(x * c) / c
    "shot_noise": (500, 250, 100, 75, 50),
    # salt-and-pepper amount (skimage random_noise)
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    # (disk radius, alias-blur sigma)
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # (gaussian sigma, max_delta, iterations)
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # (radius, sigma) of ImageMagick's motion blur; the angle is drawn from U(-45, 45) degrees
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # zoom factors, built with np.arange exactly as the script does: float rounding gives 7 and 12
    # factors at severities 1-2 (ending at 1.06 and 1.11), then 16, 21, 26 (ending at 1.15, 1.20, 1.25)
    "zoom_blur": tuple(np.arange(1, end, 0.01) for end in (1.06, 1.11, 1.16, 1.21, 1.26)),
    # (loc, scale, zoom, threshold, motion-blur radius, motion-blur sigma, blend)
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    # (image weight, frost weight)
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    # (fog strength, plasma-fractal wibble decay)
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    # added to the HSV value channel
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    # factor c: (x - mean) * c + mean, per-channel means
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # (alpha, sigma, affine jitter) in pixels: the script's fractions times IMSIZE (alpha 0 at severity 1)
    "elastic_transform": tuple(
        (IMSIZE * a, IMSIZE * s, IMSIZE * j)
        for a, s, j in ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
    ),
    # downscale factor: BOX down to int(32 c) pixels, BOX back up
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    # PIL JPEG quality
    "jpeg_compression": (80, 65, 58, 50, 40),
    # sigma of multiplicative noise: x + x * N(0, sigma)
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    # gaussian sigma (skimage filters.gaussian)
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    # (loc, scale, sigma, threshold, intensity, mode); mode 0 = water, 1 = mud
    "spatter": (
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ),
    # (multiplier, offset) on the HSV saturation channel
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}
