"""Deterministic, class-balanced subsets, so that every run of a CPU-sized experiment sees the
same examples (seed-averaging needs the same test points in every run)."""

from __future__ import annotations

import numpy as np


def balanced_subset(labels: np.ndarray, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``n`` examples, as equal a share per class as possible, taking each class's
    earliest examples in dataset order (skipping ``exclude``). Sorted ascending."""
    labels = np.asarray(labels)
    if n > len(labels):
        raise ValueError(f"asked for a subset of {n} examples from a set of {len(labels)}")
    available = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        available[np.asarray(exclude)] = False
    classes = np.unique(labels)
    base, extra = divmod(n, len(classes))
    chosen = []
    for i, c in enumerate(classes):  # a loop over classes (<= 100), not over examples
        want = base + (1 if i < extra else 0)
        pool = np.flatnonzero((labels == c) & available)
        if len(pool) < want:
            raise ValueError(f"class {c} has only {len(pool)} available examples, {want} needed for a subset of {n}")
        chosen.append(pool[:want])
    return np.sort(np.concatenate(chosen))
