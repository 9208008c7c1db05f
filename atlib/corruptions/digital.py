"""Digital corruptions: brightness, contrast, saturate, elastic transform, pixelate, JPEG and spatter.

Each takes uint8 images (N, 32, 32, 3), a severity 1..5 and a Generator, and returns the script's
result in [0, 255] (float, or uint8 where the script returned a PIL image).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color

from atlib.corruptions.filters import gaussian
from atlib.corruptions.params import IMSIZE, PARAMS

WATER_RGB = np.array([175, 238, 238]) / 255.0  # pale turquoise
MUD_RGB = np.array([63, 42, 20]) / 255.0  # brown
_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
_HSV_CHUNK = 100


def brightness(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _shift_hsv(images, channel=2, scale=1, offset=PARAMS["brightness"][severity - 1])


def saturate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    scale, offset = PARAMS["saturate"][severity - 1]
    return _shift_hsv(images, channel=1, scale=scale, offset=offset)


def _shift_hsv(images: np.ndarray, channel: int, scale: float, offset: float) -> np.ndarray:
    """skimage HSV round trip with one channel mapped to clip(v * scale + offset, 0, 1).

    Run on cache-sized chunks of the batch: skimage's conversions are memory-bound and about
    twice as fast on 100 images at a time as on 1000.
    """
    out = np.empty(images.shape)
    for start in range(0, len(images), _HSV_CHUNK):
        hsv = color.rgb2hsv(images[start : start + _HSV_CHUNK] / 255.0)
        hsv[..., channel] = np.clip(hsv[..., channel] * scale + offset, 0, 1)
        out[start : start + _HSV_CHUNK] = np.clip(color.hsv2rgb(hsv), 0, 1) * 255
    return out


def contrast(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = PARAMS["contrast"][severity - 1]
    x = images / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - means) * factor + means, 0, 1) * 255


def elastic_transform(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Random affine (3 points jittered by U(-affine, affine)), then smooth random displacements.

    Severity 1 has alpha 0: affine only. The warp is one ``cv2.warpAffine`` per image; the
    resampling is one ``map_coordinates`` call for the whole batch (see ``_displace``).
    """
    alpha, sigma, affine = PARAMS["elastic_transform"][severity - 1]
    x = images.astype(np.float32) / 255.0
    n = len(x)
    centre, half = np.float32([IMSIZE, IMSIZE]) // 2, IMSIZE // 3
    source = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    targets = source + rng.uniform(-affine, affine, size=(n, *source.shape)).astype(np.float32)
    warped = np.stack([_warp(image, cv2.getAffineTransform(source, target)) for image, target in zip(x, targets)])
    dx, dy = (_smooth_field(rng.uniform(-1, 1, size=(n, IMSIZE, IMSIZE)), sigma, alpha) for _ in range(2))
    return np.clip(_displace(warped, dy, dx), 0, 1) * 255


def _warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(image, matrix, (IMSIZE, IMSIZE), borderMode=cv2.BORDER_REFLECT_101)


def _smooth_field(noise: np.ndarray, sigma: float, alpha: float) -> np.ndarray:
    """The script's displacement field: skimage Gaussian (reflect, truncate 3) of U(-1, 1) noise, times alpha."""
    return (gaussian(noise, sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)


def _displace(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Sample each image (N, H, W, C) at (row + dy, col + dx): the script's ``map_coordinates(order=1,
    mode='reflect')`` with an integer channel coordinate.

    One call for the batch: the images lie side by side along the channel axis, where every
    coordinate is an integer, so the neighbouring plane gets weight 0 and each value equals the
    script's per-image call.
    """
    n, h, w, c = images.shape
    planes = images.transpose(1, 2, 0, 3).reshape(h, w, n * c)
    rows = np.arange(h)[:, None, None] + dy.transpose(1, 2, 0).repeat(c, axis=2)
    cols = np.arange(w)[None, :, None] + dx.transpose(1, 2, 0).repeat(c, axis=2)
    chans = np.broadcast_to(np.arange(n * c), rows.shape)
    out = ndimage.map_coordinates(planes, [rows.ravel(), cols.ravel(), chans.ravel()], order=1, mode="reflect")
    return out.reshape(h, w, n, c).transpose(2, 0, 1, 3)


def pixelate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    small = int(IMSIZE * PARAMS["pixelate"][severity - 1])
    return np.stack([_box_down_up(image, small) for image in images])


def _box_down_up(image: np.ndarray, small: int) -> np.ndarray:
    box = Image.Resampling.BOX
    return np.asarray(Image.fromarray(image).resize((small, small), box).resize((IMSIZE, IMSIZE), box))


def jpeg_compression(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = PARAMS["jpeg_compression"][severity - 1]
    return np.stack([_jpeg_round_trip(image, quality) for image in images])


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def spatter(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Smoothed, thresholded noise as a liquid layer: embossed "water" (severities 1-3) or opaque "mud" (4-5)."""
    loc, scale, sigma, threshold, intensity, mode = PARAMS["spatter"][severity - 1]
    x = images.astype(np.float32) / 255.0
    liquid = gaussian(rng.normal(loc, scale, size=x.shape[:3]), sigma)
    liquid[liquid < threshold] = 0
    if mode == 0:
        layer = _water_layer(liquid) * intensity
        return np.clip(x + layer[..., None] * WATER_RGB.astype(np.float32), 0, 1) * 255
    mud = gaussian(np.where(liquid > threshold, 1, 0).astype(np.float32), intensity)
    mud[mud < 0.8] = 0
    mud = mud[..., None]
    return np.clip(x * (1 - mud) + MUD_RGB.astype(np.float32) * mud, 0, 1) * 255


def _water_layer(liquid: np.ndarray) -> np.ndarray:
    """The script's OpenCV edge/distance/emboss chain per image, scaled to a maximum of 1.

    Release quirks kept: the liquid is cast to uint8 after ``* 255`` without clipping, so values
    above 1 wrap around (done here through int64, which NumPy defines, unlike a float cast).
    Deviation: an image whose layer is all zero gets no water instead of the script's 0/0 NaNs.
    """
    liquid_u8 = (liquid * 255).astype(np.int64).astype(np.uint8)
    layers = np.empty(liquid.shape, dtype=np.float32)
    for k, drops in enumerate(liquid_u8):
        dist = 255 - cv2.Canny(drops, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        dist = cv2.filter2D(dist, cv2.CV_8U, _EMBOSS)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        layers[k] = drops * dist
    peak = layers.max(axis=(1, 2), keepdims=True)
    return np.divide(layers, peak, out=np.zeros_like(layers), where=peak > 0)
