"""NumPy metrics over recorded softmax probabilities: entropy, learning profiles, point categories.

Recorded probabilities have shape (S, T, N, C) (seeds, checkpoints over training, points, classes)
or (T, N, C) for one seed, often as float16 memmaps too large to convert whole (CIFAR-100 with
5 seeds and 120 epochs is 1.2 GB in float16, 4.8 GB in float64). Functions that scan them work
in chunks over T and accumulate in float64. This module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

CATEGORIES = ("easy", "hard", "monotone", "non-monotone")

# The paper (Appendix B) leaves the non-monotonicity threshold unspecified. We use 1.0: the total
# drop is the sum of all step-to-step decreases of the point's seed-averaged true-class probability,
# and one drop is at most 1 (probabilities live in [0, 1]). A total above 1.0 therefore means the
# models cumulatively took away more confidence than a full flip from certainly-right to
# certainly-wrong: no single "learned, then forgotten" episode or small jitter around a trend can
# do that, only repeated un-learning. Caveat: for noisy profiles the total grows with the number
# of checkpoints T, so compare categories only across runs recorded at the same granularity; the
# notebooks show how the categories move as the threshold varies.
DEFAULT_THRESHOLD = 1.0

# Size of one float64 chunk while scanning probabilities (32 MiB; entropy holds about 3 at once).
_CHUNK_BYTES = 1 << 25


def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``-sum p log p`` in nats (eq. 1 of the paper), with ``0 log 0 = 0``.

    Computed in float64 whatever the input dtype. Converts its whole input; for full recordings
    use :func:`mean_entropy_over_time`, which works in chunks.
    """
    p = np.asarray(probs, dtype=np.float64)
    logp = np.zeros_like(p)
    np.log(p, out=logp, where=p > 0)
    return 0.0 - (p * logp).sum(axis=axis)  # "0.0 -" turns the -0.0 of one-hot rows into 0.0


def _as_4d(probs: np.ndarray) -> tuple[np.ndarray, bool]:
    """View ``probs`` as (S, T, N, C) without copying; the flag says whether a seed axis was added."""
    if not isinstance(probs, np.ndarray):
        probs = np.asarray(probs)
    if probs.ndim not in (3, 4) or not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(
            f"probs must be a float array of shape (T, N, C) or (S, T, N, C), got {probs.dtype} {probs.shape}"
        )
    if min(probs.shape) == 0:
        raise ValueError(f"probs must not have an empty axis, got shape {probs.shape}")
    return (probs[None], True) if probs.ndim == 3 else (probs, False)


def _check_labels(labels: np.ndarray, n: int, c: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer array of shape ({n},), got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError(f"labels must be class indices in [0, {c}), got range [{labels.min()}, {labels.max()}]")
    return labels.astype(np.intp, copy=False)


def _chunks(p4: np.ndarray) -> Iterator[tuple[int, slice, np.ndarray]]:
    """Yield ``(seed, time slice, p4[seed, slice])`` views whose float64 copy fits in ``_CHUNK_BYTES``."""
    n_seeds, n_times, n, c = p4.shape
    step = max(1, _CHUNK_BYTES // (n * c * 8))
    for s in range(n_seeds):
        for t0 in range(0, n_times, step):
            sl = slice(t0, min(n_times, t0 + step))
            yield s, sl, p4[s, sl]


def learning_profiles(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seed-averaged learning profiles, in one pass over ``probs``.

    Returns ``confidences`` (T, N): the true-class probability averaged over seeds, and
    ``accuracies`` (T,): the global accuracy (argmax == label) averaged over seeds, both float64.
    """
    p4, _ = _as_4d(probs)
    n_seeds, n_times, n, c = p4.shape
    labels = _check_labels(labels, n, c)
    confidences = np.zeros((n_times, n), dtype=np.float64)
    accuracies = np.zeros(n_times, dtype=np.float64)
    index = labels[None, :, None]
    for _, sl, chunk in _chunks(p4):
        confidences[sl] += np.take_along_axis(chunk, index, axis=-1)[..., 0]
        accuracies[sl] += (chunk.argmax(axis=-1) == labels).mean(axis=-1)
    return confidences / n_seeds, accuracies / n_seeds


def accuracy_over_time(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Top-1 accuracy per checkpoint: (T,) for (T, N, C) input, (S, T) for (S, T, N, C)."""
    p4, added = _as_4d(probs)
    labels = _check_labels(labels, p4.shape[2], p4.shape[3])
    out = np.empty(p4.shape[:2], dtype=np.float64)
    for s, sl, chunk in _chunks(p4):
        out[s, sl] = (chunk.argmax(axis=-1) == labels).mean(axis=-1)
    return out[0] if added else out


def mean_entropy_over_time(probs: np.ndarray) -> np.ndarray:
    """Entropy averaged over points, per checkpoint: (T,) for (T, N, C) input, (S, T) for (S, T, N, C)."""
    p4, added = _as_4d(probs)
    out = np.empty(p4.shape[:2], dtype=np.float64)
    for s, sl, chunk in _chunks(p4):
        out[s, sl] = entropy(chunk).mean(axis=-1)
    return out[0] if added else out


def _check_confidences(confidences: np.ndarray) -> np.ndarray:
    conf = np.asarray(confidences, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[0] < 2 or conf.shape[1] < 1:
        raise ValueError(
            f"confidences must have shape (T, N) with T >= 2 checkpoints (as returned by learning_profiles), "
            f"got {conf.shape}"
        )
    _check_unit_interval(conf, "confidences")
    return conf


def _check_unit_interval(values: np.ndarray, name: str) -> None:
    if not np.all((values >= 0) & (values <= 1)):  # also rejects NaN
        raise ValueError(f"{name} must be probabilities in [0, 1] (no NaN); check what was passed")


def total_confidence_drop(confidences: np.ndarray) -> np.ndarray:
    """Per point, the sum of all step-to-step decreases of its confidence over T: (N,), float64.

    The non-monotonicity score of Appendix B (0 for a non-decreasing profile); also a sort key.
    """
    return _total_drop(np.ascontiguousarray(_check_confidences(confidences).T))


def _total_drop(profiles: np.ndarray) -> np.ndarray:
    """Total drop of C-contiguous (N, T) profiles, bit-identical to Appendix B's per-point sum.

    Appendix B sums only the negative steps, a compressed 1-D array whose length varies per point;
    numpy's pairwise summation groups terms by that length, so zero-padding would change the last
    bits. Points are therefore grouped by their number of negative steps (at most T - 1 groups) and
    each group is summed as a contiguous (n_k, k) array, which numpy sums row by row exactly as 1-D.
    """
    steps = np.diff(profiles, axis=1)
    negative = steps < 0
    counts = negative.sum(axis=1)
    total = np.zeros(len(profiles), dtype=np.float64)
    for k in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == k)
        total[rows] = np.abs(steps[rows][negative[rows]]).reshape(len(rows), k).sum(axis=1)
    return total


@dataclass
class CategoryResult:
    """Point categories and the quantities that decided them.

    ``categories`` holds int8 indices into :data:`CATEGORIES`; ``distances`` the L1 distances
    to the easy (p = 1), hard (p = 0) and monotone (p = accuracy) templates, in that column order.
    """

    categories: np.ndarray
    counts: dict[str, int]
    percentages: dict[str, float]
    total_drop: np.ndarray
    distances: np.ndarray
    threshold: float

    def names(self) -> np.ndarray:
        """Category names per point, (N,) str."""
        return np.asarray(CATEGORIES)[self.categories]


def point_categories(
    confidences: np.ndarray, accuracies: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> CategoryResult:
    """Assign every point the category of Appendix B's ``point_category``, vectorised over points.

    A point whose total confidence drop is strictly greater than ``threshold`` is non-monotone;
    otherwise it takes the nearest template (L1 distance), ties going to the first of easy, hard,
    monotone, as ``min`` over the paper's dict does. Sums run over contiguous per-point rows so
    every value, and hence every tie, is bit-identical to the per-point reference.
    ``confidences`` is (T, N), ``accuracies`` is (T,), as returned by :func:`learning_profiles`.
    """
    conf = _check_confidences(confidences)
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.shape != (conf.shape[0],):
        raise ValueError(f"accuracies must have shape ({conf.shape[0]},), one per checkpoint, got {acc.shape}")
    _check_unit_interval(acc, "accuracies")
    threshold = float(threshold)
    if not threshold >= 0:
        raise ValueError(f"threshold must be a number >= 0 (a total drop in probability units), got {threshold}")

    profiles = np.ascontiguousarray(conf.T)  # (N, T): each point's profile is one contiguous row
    drop = _total_drop(profiles)
    distances = np.stack(
        [(1.0 - profiles).sum(axis=1), profiles.sum(axis=1), np.abs(profiles - acc).sum(axis=1)], axis=1
    )
    categories = distances.argmin(axis=1).astype(np.int8)
    categories[drop > threshold] = CATEGORIES.index("non-monotone")

    n = len(categories)
    tally = np.bincount(categories, minlength=len(CATEGORIES))
    return CategoryResult(
        categories=categories,
        counts={name: int(k) for name, k in zip(CATEGORIES, tally)},
        percentages={name: 100.0 * int(k) / n for name, k in zip(CATEGORIES, tally)},
        total_drop=drop,
        distances=distances,
        threshold=threshold,
    )


def histogram(
    values: np.ndarray, bins: int | np.ndarray, range: tuple[float, float] | None = None, density: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(edges, heights)`` of ``values`` (any shape, flattened, float64), density-normalised by default.

    Edges first, the order chart builders consume; non-finite values are rejected rather than
    silently dropped or crashing numpy's range detection.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError("histogram values contain NaN or inf; filter them out first")
    heights, edges = np.histogram(v, bins=bins, range=range, density=density)
    return edges, heights
