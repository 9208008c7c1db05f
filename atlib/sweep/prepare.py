"""The inputs a grid's ``prepare:`` section asks for, made in the sweep folder before any run starts
(:func:`atlib.sweep.grid.prepared_inputs` says where): a stand-in for synthesized data and a generated
CIFAR-C. Both are kept once made, so a relaunch or a re-run of the demo makes nothing twice.

Both read the dataset through atlib's data search rule (the grid's ``data_root``, then ``$ATLIB_DATA``,
then ``./data``), as the runs themselves do. Nothing here imports torch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from atlib.store.io import atomic_path
from atlib.sweep.grid import Grid, prepared_inputs


def prepare_inputs(grid: Grid, out: str | Path, echo: Callable[[str], None] = print) -> dict[str, Path]:
    """Make (or keep) every input of ``grid.prepare`` under sweep folder ``out``; returns their paths."""
    paths = prepared_inputs(grid, out)
    base = grid.base()
    dataset, root = base.get("dataset", "cifar10"), base.get("data_root")
    if "standin" in paths:
        size = grid.prepare["standin"]
        write_standin(dataset, root, base["train_subset"], size, paths["standin"])
        echo(f"synthesized data: STAND-IN of {size} held-out real training images ({paths['standin']}); "
             "runs with it are labelled 'standin'")
    if "cifar_c" in paths:
        size, start = grid.prepare["cifar_c"], time.time()
        ensure_cifar_c(dataset, root, base.get("test_subset"), size, paths["cifar_c"])
        echo(f"CIFAR-C: generated from {size} test images in {paths['cifar_c']} ({time.time() - start:.0f}s)")
    return paths


def write_standin(dataset: str, root: str | None, train_subset: int, size: int, path: Path) -> Path:
    """A synthesized-data stand-in: ``size`` real training images disjoint from the training subset (the first
    class-balanced ``train_subset``), class-balanced, as the generated-data ``.npz`` (``image`` uint8
    (N, S, S, 3), ``label`` int64). Kept if already written with that size. Uncompressed, so training
    memory-maps it."""
    from atlib.data import load_dataset
    from atlib.subsets import balanced_subset

    if path.is_file():
        with np.load(path) as npz:
            if npz["label"].shape == (size,):
                return path
    train = load_dataset(dataset, "train", root)
    held_out = balanced_subset(train.labels, size, exclude=balanced_subset(train.labels, train_subset))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, image=np.ascontiguousarray(train.images[held_out]), label=train.labels[held_out].astype(np.int64))
    return path


def ensure_cifar_c(dataset: str, root: str | None, test_subset: int | None, size: int, out_dir: Path) -> Path:
    """A generated CIFAR-C of the first ``size`` (class-balanced) test images, which lie in the runs' test
    subset; files already complete are kept (``generate_cifar_c`` resumes)."""
    from atlib.corruptions import generate_cifar_c
    from atlib.data import load_dataset
    from atlib.subsets import balanced_subset

    if test_subset is not None and size > test_subset:
        raise ValueError(f"prepare.cifar_c ({size}) must not exceed the test subset ({test_subset})")
    test = load_dataset(dataset, "test", root)
    index = balanced_subset(test.labels, size)
    return generate_cifar_c(np.ascontiguousarray(test.images[index]), test.labels[index], out_dir, seed=0)
