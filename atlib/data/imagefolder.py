"""Reader for ImageFolder layouts: ``<split>/<class>/<file>.png|jpg`` of square RGB images (the dataset's size).

Row order: by class (class folders sorted by name, label = position), then by file name
(plain string order, so zero-padded numbers come out numerically). The order is therefore a
pure function of the file names, whichever machine decodes them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from atlib.data.imageset import ImageSet
from atlib.errors import file_errors
from atlib.progress import bar

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_CHUNK = 1024  # images per pool task: large enough to amortise scheduling, small enough for a smooth bar


def class_dirs(split_dir: Path) -> list[Path]:
    """The class folders of ``split_dir``, sorted by name (hidden folders ignored)."""
    return sorted((d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def read_image_folder(split_dir: Path, image_size: int) -> ImageSet:
    """Decode every image under ``split_dir`` with PIL in a thread pool (PIL releases the GIL); each must be
    ``image_size`` x ``image_size`` RGB."""
    classes = class_dirs(split_dir)
    if not classes:
        raise FileNotFoundError(f"{split_dir} has no class folders; expected {split_dir}/<class>/*.png|jpg")
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(classes):
        names = sorted(f.name for f in os.scandir(folder) if f.is_file() and f.name.lower().endswith(IMAGE_SUFFIXES))
        files.extend(folder / n for n in names)
        labels.extend([label] * len(names))
    if not files:
        raise FileNotFoundError(f"{split_dir} has class folders but no .png/.jpg images")
    images = np.empty((len(files), image_size, image_size, 3), dtype=np.uint8)
    starts = range(0, len(files), _CHUNK)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        jobs = pool.map(lambda s: _decode_into(images, files, s, s + _CHUNK), starts)
        for _ in bar(jobs, total=len(starts), desc=f"decoding {split_dir.name} images", unit="chunk", leave=False):
            pass
    return ImageSet(images, np.asarray(labels, dtype=np.int64), tuple(d.name for d in classes))


def _decode_into(out: np.ndarray, files: list[Path], start: int, stop: int) -> None:
    for i in range(start, min(stop, len(files))):
        with file_errors(files[i], "the image is damaged or not an image: replace or remove it"), Image.open(files[i]) as im:
            side = out.shape[1]
            if im.size != (side, side) or im.mode != "RGB":
                raise ValueError(
                    f"{files[i]} is a {im.size[0]}x{im.size[1]} {im.mode} image; "
                    f"ImageFolder images of this dataset must be {side}x{side} RGB"
                )
            out[i] = np.asarray(im)  # decodes here: a truncated file fails inside file_errors
