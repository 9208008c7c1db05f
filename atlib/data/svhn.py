"""The reader of SVHN (Netzer et al. 2011) in torchvision's on-disk format: ``train_32x32.mat`` and
``test_32x32.mat`` (the standard 73,257 / 26,032 split; the ``extra`` set is not used).

Each file is a MATLAB v5 file holding ``X`` uint8 (32, 32, 3, N) and ``y`` (N, 1), where digit 0 is
stored as 10. As torchvision does, images become rows of ``X`` (here HWC) and label 10 becomes 0, so
label k is digit k. The files are looked for directly in a searched folder, where torchvision downloads
them, or in a subfolder named like ``svhn``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atlib.data.imageset import ImageSet
from atlib.data.load import Source
from atlib.datasets import DatasetInfo

FILES: dict[str, str] = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def find(root: Path, info: DatasetInfo, split: str, explicit: bool) -> Source | None:
    """``<split>_32x32.mat`` in ``root`` or in a subfolder of it named svhn (any case)."""
    if not root.is_dir():
        return None
    folders = [root, *sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() == info.name)]
    return next((Source("mat", f / FILES[split]) for f in folders if (f / FILES[split]).is_file()), None)


def key_paths(source: Source, info: DatasetInfo, split: str) -> list[Path]:
    return [source.path]


def read(source: Source, info: DatasetInfo, split: str) -> ImageSet:
    """Decode one ``.mat`` file (about 180 MB for train) into HWC rows and labels 0..9."""
    import scipy.io

    path = source.path
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except Exception as err:  # truncated, not a MATLAB file, or a version scipy cannot read
        raise ValueError(
            f"{path} is corrupt or incomplete (cannot read it as a MATLAB file: {type(err).__name__}: {err}); "
            f"delete it and download {FILES[split]} again"
        ) from err
    if "X" not in mat or "y" not in mat:
        found = sorted(name for name, _, _ in scipy.io.whosmat(path))
        raise ValueError(f"{path}: not an SVHN file (expected variables X and y; found {found})")
    images, labels = mat["X"], np.asarray(mat["y"]).reshape(-1)
    side = info.image_size
    if images.dtype != np.uint8 or images.shape[:3] != (side, side, 3) or images.shape[3:] != (len(labels),):
        raise ValueError(
            f"{path}: not an SVHN file (X is {images.dtype} {images.shape}, y has {len(labels)} labels; "
            f"expected X uint8 ({side}, {side}, 3, N) and y (N, 1))"
        )
    labels = labels.astype(np.int64)
    labels[labels == 10] = 0  # the files store digit 0 as 10
    return ImageSet(np.ascontiguousarray(images.transpose(3, 0, 1, 2)), labels, info.classes)


def layouts(info: DatasetInfo) -> list[str]:
    return [f"{FILES['train']} and {FILES['test']} (torchvision's SVHN files), directly in the folder "
            f"or in a subfolder named {info.name}/"]


def download(info: DatasetInfo, root: Path, split: str) -> None:
    """One split's file through torchvision, into ``root`` itself (as torchvision lays it out)."""
    import torchvision.datasets

    torchvision.datasets.SVHN(root=str(root), split=split, download=True)
