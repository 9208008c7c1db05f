"""Training-set difficulty scores from per-presentation statistics: pure NumPy functions of (E, N) arrays.

Inputs are the arrays of :class:`atlib.dynamics.DynamicsStore` (E epochs x N examples, NaN where an
example was not presented in an epoch; at most one presentation per epoch, so the non-NaN entries of a
column, in epoch order, are its presentations). Conventions, which the cited papers leave implicit:

- **correctness** is argmax == label (not p_true > 0.5);
- **margins** are on logits: the true-class logit minus the largest other logit (Pleiss et al. 2020);
- **entropy** (elsewhere in atlib) is over classes, never over time.

Under adversarial training the statistics come from the training forward pass, on the adversarial input
(``DynamicsStore.meta`` ``input``), unless read from the clean eval-mode forward (``record_train_clean``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"{name} must be (epochs, examples) with NaN where not presented, got shape {values.shape}")
    return values


def presentations(values: np.ndarray) -> np.ndarray:
    """(N,) number of epochs in which each example was presented (non-NaN entries)."""
    return np.isfinite(_check(values, "values")).sum(axis=0)


def presentation_mean(values: np.ndarray) -> np.ndarray:
    """(N,) mean over presentations, NaN for an example never presented (no warning)."""
    values = _check(values, "values")
    seen = np.isfinite(values)
    count = seen.sum(axis=0)
    total = np.where(seen, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def logit_margin(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(..., ) true-class logit minus the largest other logit of (..., C) ``logits``: the margin of
    Pleiss et al. (2020), what the training loop records as ``margin``; positive iff correct (ties aside)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    true = np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    others = logits.copy()
    np.put_along_axis(others, labels[..., None], -np.inf, axis=-1)
    return true - others.max(axis=-1)


def aum(margin: np.ndarray) -> np.ndarray:
    """(N,) area under the margin (Pleiss et al. 2020, "Identifying mislabeled data using the area under
    the margin ranking"): the mean logit margin over an example's presentations; NaN if never presented.
    Low or negative AUM flags examples the network keeps assigning to another class (likely mislabeled)."""
    return presentation_mean(margin)


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """(N,) int: forgetting events (Toneva et al. 2019), transitions from correct to incorrect between
    consecutive presentations (epochs without a presentation are skipped, not counted as a change).

    An example never classified correctly has 0 events but is not unforgettable: tell it apart with
    :func:`learned`. ``correct`` is 1/0 by argmax (NaN where not presented)."""
    correct = _check(correct, "correct")
    seen = np.isfinite(correct)
    epochs = np.arange(len(correct))[:, None]
    last = np.maximum.accumulate(np.where(seen, epochs, -1), axis=0)  # latest presentation at or before each epoch
    previous = np.vstack([np.full((1, correct.shape[1]), -1), last[:-1]])  # the one strictly before
    prior = np.take_along_axis(np.nan_to_num(correct, nan=0.0), np.maximum(previous, 0), axis=0)
    events = seen & (previous >= 0) & (prior == 1) & (correct == 0)
    return events.sum(axis=0)


def learned(correct: np.ndarray) -> np.ndarray:
    """(N,) bool: classified correctly at least once (Toneva et al.'s "learned" example)."""
    return (np.nan_to_num(_check(correct, "correct"), nan=0.0) == 1).any(axis=0)


def forgetting_score(correct: np.ndarray) -> np.ndarray:
    """(N,) float: forgetting events as Toneva et al. 2019 rank them: an example never learned counts as many
    events as it had presentations, so it ranks as the most forgettable, not as unforgettable (0 events);
    NaN for an example never presented. Every ranking and correlation of forgetting uses this score; the
    histogram, the summary and the crosstab keep never-learned examples apart instead (:func:`forgetting_kinds`)."""
    correct = _check(correct, "correct")
    seen = presentations(correct)
    score = np.where(learned(correct), forgetting_events(correct), seen).astype(np.float64)
    return np.where(seen > 0, score, np.nan)


FORGETTING_KINDS = ("unforgettable", "forgotten", "never learned", "never presented")


def forgetting_kinds(correct: np.ndarray) -> np.ndarray:
    """(N,) int8 index into :data:`FORGETTING_KINDS`: learned and never forgotten, forgotten at least
    once, presented but never correct, not presented at all."""
    events, ever = forgetting_events(correct), learned(correct)
    kinds = np.where(events > 0, 1, 0).astype(np.int8)
    kinds[~ever] = 2
    kinds[presentations(correct) == 0] = 3
    return kinds


@dataclass(frozen=True)
class DataMap:
    """Dataset Cartography (Swayamdipta et al. 2020) coordinates of each example, NaN if never presented.

    ``confidence``: mean true-class probability over presentations; ``variability``: its standard
    deviation (population, ddof=0, as their code's ``np.std``); ``correctness``: the share of
    presentations classified correctly (argmax). Regions (:func:`data_map_regions`) are thirds by rank.
    """

    confidence: np.ndarray
    variability: np.ndarray
    correctness: np.ndarray


def data_map(p_true: np.ndarray, correct: np.ndarray) -> DataMap:
    """:class:`DataMap` from (E, N) ``p_true`` and ``correct`` (NaN where not presented)."""
    p_true, correct = _check(p_true, "p_true"), _check(correct, "correct")
    if p_true.shape != correct.shape:
        raise ValueError(f"p_true and correct must have one shape, got {p_true.shape} and {correct.shape}")
    confidence = presentation_mean(p_true)
    spread = presentation_mean((p_true - confidence) ** 2)
    return DataMap(confidence=confidence, variability=np.sqrt(spread), correctness=presentation_mean(correct))


REGIONS = ("easy-to-learn", "ambiguous", "hard-to-learn")


def data_map_regions(confidence: np.ndarray, variability: np.ndarray) -> dict[str, np.ndarray]:
    """Swayamdipta et al.'s regions as (N,) bool masks, each a third of the presented examples by rank:
    easy-to-learn (highest confidence), ambiguous (highest variability), hard-to-learn (lowest confidence).
    Ties go to the lower index; ambiguous may overlap the other two. Never-presented examples are in none."""
    confidence, variability = np.asarray(confidence, np.float64), np.asarray(variability, np.float64)
    seen = np.flatnonzero(np.isfinite(confidence) & np.isfinite(variability))
    k = int(round(len(seen) / 3))

    def top(score: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(confidence), dtype=bool)
        mask[seen[np.argsort(-score[seen], kind="stable")[:k]]] = True
        return mask

    return {"easy-to-learn": top(confidence), "ambiguous": top(variability), "hard-to-learn": top(-confidence)}


def el2n(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """EL2N (Paul et al. 2021): the L2 norm of softmax output minus one-hot label, per example.

    ``probs`` (N, C) for one model, or (S, N, C) for several: the per-model scores are averaged (their
    definition: the expectation over models of the norm, not the norm of the mean prediction)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3:
        raise ValueError(f"probs must be (N, C) or (S, N, C), got shape {p.shape}")
    labels = np.asarray(labels)
    if labels.shape != (p.shape[1],):
        raise ValueError(f"labels must be ({p.shape[1]},), got {labels.shape}")
    error = p.copy()
    error[:, np.arange(p.shape[1]), labels] -= 1.0
    return np.sqrt((error ** 2).sum(axis=-1)).mean(axis=0)


def nearest_point(epochs: np.ndarray, fraction: float, total_epochs: float) -> int:
    """Index of the record point whose epoch is nearest ``fraction`` of ``total_epochs`` (earlier on ties)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1] (e.g. 0.1 for 10% of training), got {fraction}")
    epochs = np.asarray(epochs, dtype=np.float64)
    if len(epochs) == 0:
        raise ValueError("no record points")
    return int(np.argmin(np.abs(epochs - fraction * total_epochs)))


@dataclass(frozen=True)
class SyntheticScores:
    """Per synthesized image (each drawn with replacement, possibly many times): AUM over its draws."""

    index: np.ndarray  # (K,) rows of the synthesized set, ascending
    label: np.ndarray  # (K,) its label
    aum: np.ndarray  # (K,) mean logit margin over its draws
    draws: np.ndarray  # (K,) number of draws
    correct: np.ndarray  # (K,) share of draws the model classified as the label (argmax)


def synthetic_scores(index: np.ndarray, label: np.ndarray, margin: np.ndarray, correct: np.ndarray) -> SyntheticScores:
    """Aggregate synthesized rows (one per draw, as :meth:`DynamicsStore.synthetic` returns) per image."""
    index = np.asarray(index, dtype=np.int64)
    images, first, inverse, draws = np.unique(index, return_index=True, return_inverse=True, return_counts=True)
    margin_sum = np.bincount(inverse, weights=np.asarray(margin, np.float64), minlength=len(images))
    correct_sum = np.bincount(inverse, weights=np.asarray(correct, np.float64), minlength=len(images))
    return SyntheticScores(index=images, label=np.asarray(label, np.int64)[first], aum=margin_sum / draws,
                           draws=draws, correct=correct_sum / draws)
