"""CIFAR-10-C / CIFAR-100-C regenerated from the published parameters, on today's libraries.

Hendrycks & Dietterich's 2018 creation script (32x32 parameters: ``params.PARAMS``) no longer runs
on NumPy 2 / current scikit-image, SciPy and OpenCV, and needs ImageMagick for motion blur. This
package ports its mechanics, quirks included (see each function's docstring), with no ImageMagick:

- ``corrupt(images, corruption, severity, seed)``: uint8 (N, 32, 32, 3) in, uint8 out, seeded by a
  NumPy Generator derived from (seed, corruption, severity, block of 1000 images); vectorised over
  the batch except where the operation is a per-image OpenCV / PIL call.
- ``generate_cifar_c(images, labels, out_dir)``: the released file layout, resumable, in parallel.
- ``python -m atlib.corruptions --dataset cifar10 --out DIR``: the same from the command line.

Release quirks kept (details in each function): zoom-blur factor counts from ``np.arange`` float
rounding (7 and 12 factors at severities 1-2); glass blur's "swap", which on NumPy views copies
one pixel onto the other; frost drawing only the first five textures (``randint(5)``); elastic
severity 1 being affine only (alpha 0); spatter's water layer cast to uint8 without clipping,
so values above 1 wrap around (about 1 image in 5 at severity 3); fog's wibble**2 displacements.

Cast convention: the release stored ``np.uint8(corruption(x))``, i.e. the float result (clipped to
[0, 1] and scaled by 255, or clipped to [0, 255] for frost) truncated toward zero, not rounded; so
does ``corrupt``.

Where the output cannot match the released files:

- Randomness: the script drew from the unseeded global ``np.random``; here each corruption draws
  the same distributions from its own Generator, so the files are statistically, not bitwise, alike.
- Motion blur (``motion_blur`` and the snow layer): ImageMagick's MagickMotionBlurImage is replaced
  by a port to NumPy and ``cv2.filter2D`` (``atlib.corruptions.motion``): a one-sided line of
  ``2 * ceil(radius) + 1`` samples from offset 0 along the angle, Gaussian weights
  ``exp(-i^2 / 2 sigma^2)`` normalised to 1, edge pixels repeated beyond the border, rounded to
  8 bits. The release's output also depended on the ImageMagick build (Q16 vs HDRI intermediate
  rounding, version-specific width and virtual-pixel rules), which was not recorded; expect
  occasional one-level differences, and more if that ImageMagick differed from the 6.x behaviour
  ported here.
- Library versions: skimage's HSV conversions and Gaussian, SciPy's interpolation boundary rules
  (changed in SciPy 1.6), OpenCV's resize / filters and libjpeg may differ from the 2018 versions
  in the last bits, which a truncating cast can turn into one-level differences.
"""

from atlib.lazy import lazy_names

_NAMES = {  # name: the submodule defining it, imported on first use
    **dict.fromkeys(["BLOCK_SIZE", "CORRUPTIONS", "SEVERITIES", "corrupt"], "core"),
    **dict.fromkeys(["generate_cifar_c"], "generate"),
}
__getattr__ = lazy_names(__name__, _NAMES)
__all__ = sorted(_NAMES)
