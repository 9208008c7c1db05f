"""The frost textures, read from the ``imagecorruptions`` package (byte-identical to the release's).

The package is located without importing it: its ``__init__`` pulls in GUI OpenCV and numba,
which atlib does not need. Install it with ``pip install --no-deps imagecorruptions==1.1.2``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

# The script lists six files but draws idx = randint(5), so frost6.jpg is never used.
FROST_FILES: tuple[str, ...] = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
_INSTALL = "pip install --no-deps imagecorruptions==1.1.2"


def frost_dir() -> Path:
    """The ``frost/`` folder inside the installed ``imagecorruptions`` package."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the frost corruption needs the frost textures of imagecorruptions: {_INSTALL}")
    return Path(list(spec.submodule_search_locations)[0]) / "frost"


@functools.cache
def frost_textures() -> tuple[np.ndarray, ...]:
    """The five used textures as RGB uint8, shrunk as the script does (BGR read, ``fx = fy = 0.2``)."""
    folder = frost_dir()
    textures = []
    for name in FROST_FILES:
        bgr = cv2.imread(str(folder / name))
        if bgr is None:
            raise FileNotFoundError(f"cannot read frost texture {folder / name}; reinstall it: {_INSTALL}")
        textures.append(np.ascontiguousarray(cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)[..., ::-1]))
    return tuple(textures)
