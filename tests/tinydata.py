"""A learnable toy CIFAR-10 ImageFolder and tiny training configs for engine tests (seconds per run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from atlib.config import TrainConfig

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
REPO = Path(__file__).resolve().parents[1]


def write_tiny_cifar(root: Path) -> Path:
    """A CIFAR-10 ImageFolder of learnable toy images (class = tint, which survives crops and flips) plus a NEG file."""
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 136, size=(10, 3))
    for split, per_class in (("train", 24), ("test", 8)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 120, size=(32, 32, 3)) + palette[c]
                Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:04d}.png")
    neg = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "CIFAR10_neg.npz", data=neg, labels=np.arange(20) % 10)
    return root


def tiny_config(root: Path, out: Path, **changes) -> TrainConfig:
    base = dict(
        model="small_cnn", method="nt", epochs=2, batch_size=32, lr=0.05, lr_milestones=(1,), record_per_epoch=2,
        pgd_steps=2, robust_eval_n=40, robust_eval_steps=2, eval_batch_size=64, data_root=str(root),
        neg_path=str(root / "CIFAR10_neg.npz"), out_dir=str(out), progress=False, seed=0,
    )
    base.update(changes)
    return TrainConfig(**base)
