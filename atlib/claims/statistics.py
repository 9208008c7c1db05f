"""Each claim's statistic of one run, from per-image quantities, with its image-resampling replicates.

Every statistic is computed from per-image numbers (a test image's final entropy, its entropy
integrated over training, its total confidence drop and nearest template, a NEG image's
correctness at each record point) weighted by a row of :func:`image_weights`. Row 0 weighs every
image once (the statistic itself); rows 1..B are bootstrap resamples of the images, the same
resamples for every run of a report, so that one replicate moves every run together, as the runs
share their test images. The report (:mod:`atlib.claims.evidence`) and the calibration benchmark
(``benchmarks/bench_claims_calibration.py``) both go through these functions.

Numbers that runs store only as a total (clean, robust and CIFAR-C accuracy in the final metrics)
get replicates from the binomial normal approximation of their own images, drawn independently per
run: for two runs scored on the same images this overstates the error of their difference, which is
the safe side for a verdict.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np

IMAGE_REPLICATES = 100  # bootstrap resamples of the images (rows 1..B of image_weights): a standard error within ±7 %
SEED = 2024  # fixed: a report's replicates do not change from one reading to the next


@functools.cache
def image_weights(n: int, replicates: int = IMAGE_REPLICATES, seed: int = SEED) -> np.ndarray:
    """(1 + replicates, n) float64: row 0 all ones, each further row the counts of one bootstrap
    resample of ``n`` images. The same for every run of ``n`` images (read-only)."""
    if n < 1:
        raise ValueError(f"need at least one image, got {n}")
    rng = np.random.default_rng([seed, n])
    draws = rng.integers(0, n, size=(replicates, n))
    counts = np.bincount((draws + n * np.arange(replicates)[:, None]).ravel(), minlength=replicates * n)
    out = np.vstack([np.ones(n), counts.reshape(replicates, n)]).astype(np.float64)
    out.flags.writeable = False
    return out


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(R,) mean of per-image ``values`` (n,) under each row of ``weights`` (R, n)."""
    return weights @ np.asarray(values, dtype=np.float64) / weights.shape[1]


def interquartile_range(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(R,) interquartile range of per-image ``values`` under each row of ``weights``; row 0 (all ones)
    equals ``np.percentile``'s (linear interpolation)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    cumulative = np.cumsum(weights[:, order], axis=1)  # (R, n): images at or below each rank

    def quantile(q: float) -> np.ndarray:
        # the value at fractional position q (n - 1) of the weighted sample, interpolated like np.percentile
        position = q * (n - 1)
        low = np.floor(position)
        frac = position - low
        ranks = np.array([np.searchsorted(row, [low, low + 1], side="right") for row in cumulative]).clip(0, n - 1)
        first, second = ranked[ranks[:, 0]], ranked[ranks[:, 1]]
        return first + frac * (second - first)

    return quantile(0.75) - quantile(0.25)


def trapezoid_weights(time: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-record-point weights ``w`` and the constant ``w0`` such that, for a curve ``h`` recorded at
    ``time`` and worth ``h0`` at time 0, the trapezoid integral over [0, time[-1]] is ``w0 * h0 + w @ h``.
    The first record point comes after training has begun; time 0 is the untrained model."""
    t = np.concatenate([[0.0], np.asarray(time, dtype=np.float64)])
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"record times must increase from 0, got {time}")
    step = np.diff(t)  # (T,)
    w = np.zeros(len(t))
    w[:-1] += step / 2
    w[1:] += step / 2
    return w[1:], float(w[0])


def entropy_rate(area: np.ndarray, final: np.ndarray, span: float, log_c: float,
                 weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Claim 2's rate and how far the curve falls, under each row of ``weights``.

    ``area`` (n,): each image's entropy integrated over training from H_0 = log C at time 0 (see
    :func:`trapezoid_weights`); ``final`` (n,): its entropy at the last record point; ``span``: the
    last record time. Returns the normalised area of (H(t) - H_end) / (H_0 - H_end) over normalised
    training time (0: falls at once; 0.5: a straight line; larger: slower) and (H_0 - H_end) / log C,
    the share of its range the curve falls, which says whether the rate is defined at all.
    """
    mean_height = weighted_mean(area, weights) / span
    end = weighted_mean(final, weights)
    fallen = log_c - end
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (mean_height - end) / fallen
    return rate, fallen / log_c


def category_shares(drop: np.ndarray, nearest: np.ndarray, thresholds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(R, K, 4) percentages of images per category (columns in :data:`atlib.metrics.CATEGORIES` order)
    at each threshold under each row of ``weights``; row 0 equals :func:`atlib.metrics.category_shares`.

    ``drop`` (n,): each image's total confidence drop; ``nearest`` (n,): its nearest template (0 easy,
    1 hard, 2 monotone). An image is non-monotone above a threshold, else in its template's category.
    The global accuracy that the monotone template follows is not resampled.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n, k = len(drop), len(thresholds)
    rank = np.argsort(thresholds, kind="stable")
    # image i keeps its template at the j-th smallest threshold for j >= first[i] (drop <= it), else is non-monotone
    first = np.searchsorted(thresholds[rank], drop, side="left")  # (n,) in [0, K]
    slot = np.clip(np.asarray(nearest), 0, 2) * (k + 1) + first
    per_bin = np.stack([np.bincount(slot, weights=row, minlength=3 * (k + 1)) for row in weights])
    per_bin = per_bin.reshape(len(weights), 3, k + 1)
    kept = np.cumsum(per_bin, axis=2)[:, :, :k]  # (R, 3, K): weight of each template's images with drop <= threshold
    out = np.empty((len(weights), k, 4))
    out[:, :, :3] = kept.transpose(0, 2, 1)
    out[:, :, 3] = n - kept.sum(axis=1)
    unsorted = np.empty_like(out)
    unsorted[:, rank] = out
    return 100.0 * unsorted / n


def neg_fall(neg: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Claim 4a's fall of NEG accuracy curves ``neg`` (..., T): from the peak (which must come after, and
    be above, the first record point) to the lowest later value at a point where test accuracy ``test``
    (T,) is above its value at the peak; 0 where there is none."""
    neg = np.asarray(neg, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    t = neg.shape[-1]
    peak = neg.argmax(axis=-1)
    top = np.take_along_axis(neg, peak[..., None], axis=-1)[..., 0]
    later = (np.arange(t) > peak[..., None]) & (test > test[peak][..., None])
    low = np.where(later, neg, np.inf).min(axis=-1)
    rose = (peak > 0) & (top > neg[..., 0])
    return np.where(rose & np.isfinite(low), top - np.where(np.isfinite(low), low, 0.0), 0.0)


def total_decrease(neg: np.ndarray) -> np.ndarray:
    """Claim 4b's total decrease of curves ``neg`` (..., T): the sum of their drops between record points."""
    steps = np.diff(np.asarray(neg, dtype=np.float64), axis=-1)
    return -np.where(steps < 0, steps, 0.0).sum(axis=-1)


def neg_statistics(correct: np.ndarray, test_acc: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4a's fall and 4b's total decrease under each row of ``weights`` (over the NEG images), from
    ``correct`` (T, n): whether each NEG image is classified right at each record point."""
    curves = weights @ np.asarray(correct, dtype=np.float64).T / correct.shape[1]  # (R, T)
    return neg_fall(curves, test_acc), total_decrease(curves)


def accuracy_replicates(accuracy: float, n: int, key: str, replicates: int = IMAGE_REPLICATES) -> np.ndarray:
    """(1 + replicates,) a stored accuracy over ``n`` images and normal draws of its binomial error
    (seeded by ``key``, a run's identity); NaN throughout if the accuracy is missing."""
    if not np.isfinite(accuracy) or n < 1:
        return np.full(1 + replicates, np.nan)
    rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
    se = np.sqrt(max(accuracy * (1 - accuracy), 0.0) / n)
    return np.concatenate([[accuracy], accuracy + se * rng.standard_normal(replicates)])
