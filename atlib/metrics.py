"""NumPy metrics over recorded softmax probabilities: entropy, learning profiles, point categories.

Recorded probabilities have shape (S, T, N, C) (seeds, checkpoints over training, points, classes)
or (T, N, C) for one seed, often as float16 memmaps too large to convert whole (CIFAR-100 with
5 seeds and 120 epochs is 1.2 GB in float16, 4.8 GB in float64). Functions that scan them stream
each seed's records once through one compiled loop (numba) and accumulate in float64. This module
never imports torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
import numba
import numpy as np

CATEGORIES = ("easy", "hard", "monotone", "non-monotone")

# The paper (Appendix B) leaves the non-monotonicity threshold unspecified. The score it is compared
# with, the total drop, sums every step-to-step decrease of a point's seed-averaged true-class
# probability over the T record points, so its scale depends on T. Measured on demo-sized runs
# (the small CNN on 5,000 CIFAR-10 images recorded 24 times; each run's profiles subsampled to every
# 2nd, 4th and 8th point), the median total drop roughly doubles with each doubling of the number of
# points (x2.4 from 12 to 24 points, x2.3 from 6 to 12): checkpoints a quarter epoch apart fluctuate
# nearly independently, and independent fluctuations add a drop at every step. So the default is a
# drop per step between record points, DEFAULT_THRESHOLD_PER_STEP = 0.05: a point that loses on
# average more than 5 points of confidence per step (summed over training) is non-monotone.
# :func:`default_threshold` turns it into the total-drop threshold for T points: 0.35 at 8 points,
# 1.0 at 21 (the fixed value atlib 0.1 used for every T; at 8 points it marked no point non-monotone),
# 1.2 at the demo's 25 and 23.95 at the paper preset's 480. Every face (Fig 2-3, the explorer, the
# probe's categories, the claims) uses it when given no threshold. Whether fluctuations stay that
# independent at 480 points of a ResNet-18 is not measured: compare categories across runs recorded at
# the same number of points, and read them over a range of thresholds (:func:`threshold_grid`: notebook
# 02's sweep, and claims 3a-3c of :mod:`atlib.claims`, which must hold at every threshold of it).
DEFAULT_THRESHOLD_PER_STEP = 0.05
RELATIVE_RANGE = (0.25, 2.0)  # the default threshold range, in units of default_threshold(T)
THRESHOLD_STEPS = 36  # thresholds in a range (0.25, 0.30, ..., 2.00 times the default)


def default_threshold(num_points: int) -> float:
    """The default non-monotonicity threshold for profiles of ``num_points`` record points:
    :data:`DEFAULT_THRESHOLD_PER_STEP` per step between them (see the note above it)."""
    if num_points < 2:
        raise ValueError(f"a learning profile needs at least 2 record points, got {num_points}")
    return DEFAULT_THRESHOLD_PER_STEP * (num_points - 1)


def threshold_grid(num_points: int, threshold_range: tuple[float, float] | None = None) -> np.ndarray:
    """:data:`THRESHOLD_STEPS` thresholds spanning ``threshold_range`` (absolute total drops), by default
    :data:`RELATIVE_RANGE` times :func:`default_threshold` for ``num_points`` record points."""
    if threshold_range is None:
        scale = default_threshold(num_points)
        lo, hi = RELATIVE_RANGE[0] * scale, RELATIVE_RANGE[1] * scale
    else:
        lo, hi = (float(x) for x in threshold_range)
    if not 0 <= lo <= hi:
        raise ValueError(f"threshold range must be two numbers 0 <= low <= high, got {lo}, {hi}")
    return np.unique(np.round(np.linspace(lo, hi, THRESHOLD_STEPS), 6))


def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``-sum p log p`` in nats (eq. 1 of the paper), with ``0 log 0 = 0``.

    Computed in float64 whatever the input dtype; float16 input (the records) reads each term
    from a table of ``p log p`` over all 65,536 float16 values, the same float64 numbers as the
    direct formula, several times faster. Converts its whole input; for full recordings use
    :func:`mean_entropy_over_time`, which streams them.
    """
    p = np.asarray(probs)
    if p.dtype == np.float16:
        return 0.0 - _float16_tables()[0][p.view(np.uint16)].sum(axis=axis)
    p = p.astype(np.float64, copy=False)
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


@dataclass
class RecordSummary:
    """What the analyses read from one seed's (T, N, C) records, gathered in one pass over them.

    ``mean_entropy`` (T,): entropy averaged over points; ``confidences`` (T, N): the true-class
    probability; ``accuracies`` (T,): top-1 accuracy (argmax == label); ``entropy_area`` (N,): each
    point's entropy summed over record points with the ``time_weights`` given (empty without them):
    the per-image integral the claims' entropy rate resamples. All float64.
    """

    mean_entropy: np.ndarray
    confidences: np.ndarray
    accuracies: np.ndarray
    entropy_area: np.ndarray


def summarize_records(probs: np.ndarray, labels: np.ndarray, time_weights: np.ndarray | None = None) -> RecordSummary:
    """One seed's :class:`RecordSummary`, reading each chunk of ``probs`` (T, N, C) once; with
    ``time_weights`` (T,), also each point's weighted sum of its entropies over the record points."""
    p4, added = _as_4d(probs)
    if not added:
        raise ValueError(f"summarize_records takes one seed's (T, N, C) records, got shape {p4.shape}")
    if time_weights is not None and np.shape(time_weights) != (p4.shape[1],):
        raise ValueError(f"time_weights must have shape ({p4.shape[1]},), one per record point, got {np.shape(time_weights)}")
    return _scan(p4[0], _check_labels(labels, p4.shape[2], p4.shape[3]), with_entropy=True, time_weights=time_weights)


def _scan(p3: np.ndarray, labels: np.ndarray | None, with_entropy: bool,
          time_weights: np.ndarray | None = None) -> RecordSummary:
    """The one pass over a seed's (T, N, C) records: entropy if asked, true-class confidences and accuracy if labelled.

    float16 records (softmax outputs: never negative, never NaN) go to :func:`_scan_kernel` as their
    uint16 bit patterns, which order such values exactly as the values: argmax runs at integer
    speed, and each ``p log p`` and true-class value is read from a float64 table. Memory-mapped
    records are streamed, never copied.
    """
    p3 = p3.view(np.ndarray)  # records are memmaps: plain views keep numba from copying them
    n_times, n, _ = p3.shape
    tables = None
    if p3.dtype == np.float16:
        p3, tables = p3.view(np.uint16), _float16_tables()
    elif p3.dtype != np.float64:
        p3 = p3.astype(np.float64)
    ent = np.empty(n_times if with_entropy else 0)
    conf = np.empty((n_times, n) if labels is not None else (0, 0))
    acc = np.empty(n_times if labels is not None else 0)
    weights = np.zeros(0) if time_weights is None else np.ascontiguousarray(time_weights, dtype=np.float64)
    area = np.zeros(n if weights.size else 0)
    _scan_kernel(p3, tables, np.zeros(0, np.intp) if labels is None else labels, ent, conf, acc, weights, area)
    nan = np.full(0, np.nan)
    return RecordSummary(mean_entropy=ent if with_entropy else nan, confidences=conf if labels is not None else nan,
                         accuracies=acc if labels is not None else nan, entropy_area=area)


@functools.cache
def _float16_tables() -> np.ndarray:
    """(2, 65536) float64, indexed by a float16 bit pattern (its uint16 view): row 0 ``p log p`` as
    :func:`entropy` computes it (0 for p = 0, ``p * 0`` for negative p, NaN for NaN), row 1 the value ``p``. Read-only."""
    p = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    logp = np.zeros_like(p)
    with np.errstate(invalid="ignore"):
        np.log(p, out=logp, where=p > 0)
        tables = np.stack([p * logp, p])
    tables.flags.writeable = False
    return tables


@numba.njit(nogil=True, cache=True)
def _scan_kernel(data, tables, labels, ent, conf, acc, time_weights, area):  # pragma: no cover - compiled; tested through _scan
    """Fill ``ent`` (T,) with the mean entropy, ``conf`` (T, N) with the true-class value and ``acc`` (T,)
    with the top-1 accuracy (first maximum on ties, as argmax) of (T, N, C) ``data``, in one pass;
    with ``time_weights`` (T,), add each point's entropy times its record point's weight to ``area`` (N,).

    ``data`` is float64, or float16 bit patterns with ``tables`` (:func:`_float16_tables`) to read
    their ``p log p`` and values from (one float64 row sum per point, then over points). An empty ``ent`` / ``conf`` skips that part. Without the GIL,
    so threads scan runs side by side.
    """
    n_times, n, c = data.shape
    with_entropy, labelled, weighted = ent.size > 0, conf.size > 0, time_weights.size > 0
    for k in range(n_times):
        total, correct = 0.0, 0
        for i in range(n):
            row = data[k, i]
            row_sum, best, arg = 0.0, row[0], 0
            for j in range(c):
                u = row[j]
                if with_entropy:
                    if tables is None:
                        if u > 0:
                            row_sum += u * np.log(u)
                    else:
                        row_sum += tables[0, u]
                if u > best:
                    best, arg = u, j
            total += row_sum
            if weighted:
                area[i] -= time_weights[k] * row_sum
            if labelled:
                label = labels[i]
                conf[k, i] = row[label] if tables is None else tables[1, row[label]]
                correct += arg == label
        if with_entropy:
            ent[k] = 0.0 - total / n
        if labelled:
            acc[k] = correct / n


def learning_profiles(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seed-averaged learning profiles, in one pass over ``probs``.

    Returns ``confidences`` (T, N): the true-class probability averaged over seeds, and
    ``accuracies`` (T,): the global accuracy (argmax == label) averaged over seeds, both float64:
    the sum of the seeds' :class:`RecordSummary` values in seed order, divided by S.
    """
    p4, _ = _as_4d(probs)
    labels = _check_labels(labels, p4.shape[2], p4.shape[3])
    confidences, accuracies = 0.0, 0.0
    for p3 in p4:
        summary = _scan(p3, labels, with_entropy=False)
        confidences, accuracies = confidences + summary.confidences, accuracies + summary.accuracies
    return confidences / len(p4), accuracies / len(p4)


def accuracy_over_time(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Top-1 accuracy per checkpoint: (T,) for (T, N, C) input, (S, T) for (S, T, N, C)."""
    p4, added = _as_4d(probs)
    labels = _check_labels(labels, p4.shape[2], p4.shape[3])
    out = np.stack([_scan(p3, labels, with_entropy=False).accuracies for p3 in p4])
    return out[0] if added else out


def mean_entropy_over_time(probs: np.ndarray) -> np.ndarray:
    """Entropy averaged over points, per checkpoint: (T,) for (T, N, C) input, (S, T) for (S, T, N, C)."""
    p4, added = _as_4d(probs)
    out = np.stack([_scan(p3, None, with_entropy=True).mean_entropy for p3 in p4])
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
    if not (values.min() >= 0 and values.max() <= 1):  # NaN propagates through min/max and fails both
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
    Rows are put in order of their count once, so the groups are consecutive slices of one array.
    """
    steps = np.diff(profiles, axis=1)
    negative = steps < 0
    counts = negative.sum(axis=1)
    order = np.argsort(counts, kind="stable")
    drops = np.abs(steps[order][negative[order]])  # each row's negative steps, rows in count order
    total = np.zeros(len(profiles), dtype=np.float64)
    sorted_counts = counts[order]
    ks, first, sizes = np.unique(sorted_counts, return_index=True, return_counts=True)
    offsets = np.concatenate([[0], np.cumsum(ks * sizes)])
    for k, start, size, offset in zip(ks, first, sizes, offsets):
        if k:
            total[order[start:start + size]] = drops[offset:offset + k * size].reshape(size, k).sum(axis=1)
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
    confidences: np.ndarray, accuracies: np.ndarray, threshold: float | None = None
) -> CategoryResult:
    """Assign every point the category of Appendix B's ``point_category``, vectorised over points.

    A point whose total confidence drop is strictly greater than ``threshold`` is non-monotone;
    otherwise it takes the nearest template (L1 distance), ties going to the first of easy, hard,
    monotone, as ``min`` over the paper's dict does. Sums run over contiguous per-point rows so
    every value, and hence every tie, is bit-identical to the per-point reference.
    ``confidences`` is (T, N), ``accuracies`` is (T,), as returned by :func:`learning_profiles`;
    ``threshold`` None is :func:`default_threshold` of their T.
    """
    if threshold is not None:
        threshold = _check_threshold(threshold)
    drop, distances = _drops_and_distances(confidences, accuracies)
    if threshold is None:
        threshold = default_threshold(len(accuracies))
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


def category_shares(confidences: np.ndarray, accuracies: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Percentages of points per category (columns in :data:`CATEGORIES` order) at each threshold:
    (len(thresholds), 4), equal to :func:`point_categories`' ``percentages`` at each one.

    The templates and drops do not depend on the threshold, so they are computed once: a sweep
    over many thresholds costs about one :func:`point_categories` call.
    """
    thresholds = np.array([_check_threshold(th) for th in np.atleast_1d(thresholds)], dtype=np.float64)
    drop, nearest = drops_and_nearest(confidences, accuracies)
    non_monotone = CATEGORIES.index("non-monotone")
    order = np.argsort(drop, kind="stable")
    sorted_drop, sorted_nearest = drop[order], nearest[order]
    # Points with drop <= th keep their template: a prefix of the drop order, tallied by template.
    kept = np.searchsorted(sorted_drop, thresholds, side="right")
    running = np.zeros((len(drop) + 1, len(CATEGORIES)), dtype=np.int64)
    np.cumsum(np.eye(len(CATEGORIES), dtype=np.int64)[sorted_nearest], axis=0, out=running[1:])
    counts = running[kept]
    counts[:, non_monotone] = len(drop) - kept
    return 100.0 * counts / len(drop)


def drops_and_nearest(confidences: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point, what decides its category at any threshold: its total drop (N,) and the index of
    its nearest template (N,): 0 easy, 1 hard, 2 monotone (ties to the first, as :func:`point_categories`)."""
    drop, distances = _drops_and_distances(confidences, accuracies)
    return drop, distances.argmin(axis=1)


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not threshold >= 0:
        raise ValueError(f"threshold must be a number >= 0 (a total drop in probability units), got {threshold}")
    return threshold


def _drops_and_distances(confidences: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total drop (N,) and L1 distances to the easy, hard and monotone templates (N, 3) of every point."""
    conf = _check_confidences(confidences)
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.shape != (conf.shape[0],):
        raise ValueError(f"accuracies must have shape ({conf.shape[0]},), one per checkpoint, got {acc.shape}")
    _check_unit_interval(acc, "accuracies")
    profiles = np.ascontiguousarray(conf.T)  # (N, T): each point's profile is one contiguous row
    scratch = np.subtract(1.0, profiles)
    easy = scratch.sum(axis=1)
    np.subtract(profiles, acc, out=scratch)
    monotone = np.abs(scratch, out=scratch).sum(axis=1)
    return _total_drop(profiles), np.stack([easy, profiles.sum(axis=1), monotone], axis=1)


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
