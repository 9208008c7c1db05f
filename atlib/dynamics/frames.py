"""Training-set dynamics as tidy frames, one function per figure, like :mod:`atlib.analysis` (same id columns).

Every frame holds the training forward's statistics (``input`` = the store's ``input``: ``adversarial``
under AT and its variants, ``clean`` under NT; ``clean`` column False) and, for runs trained with
``record_train_clean``, the clean eval-mode forward's (``input`` = :data:`CLEAN_INPUT`, ``clean`` True).
Per-example scores are computed per seed and averaged over seeds; shares get ``mean``/``std`` over seeds
(:func:`atlib.analysis.seed_stats`). Seeds are compared over the epochs they all recorded.
Conventions (:mod:`atlib.dynamics.metrics`): correctness by argmax, margins on logits.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from atlib import analysis
from atlib import metrics as profile_metrics
from atlib.dynamics import metrics as dm
from atlib.analysis import _frame
from atlib.store.runs import RunGroup

ID_COLUMNS = analysis.ID_COLUMNS
CLEAN_INPUT = "clean, eval mode"
SIDE_COLUMNS = (*ID_COLUMNS, "input", "clean")
HOW_TO_RECORD = ("train with record_train=True (the default) to record every training example's loss, correctness, "
                 "p_true and margin; record_train_clean=True adds a clean eval-mode forward under AT")
HOW_TO_PROBE = "train with train_probe_size > 0 (default min(5000, N/2)) to record the training probe like the test set"
CROSS_BUCKETS = ("0", "1", "2", "3+", "never learned")  # forgetting events in probe_crosstab
EL2N_FRACTION = 0.1  # Paul et al. score early in training: the record point nearest 10% of it


# ----------------------------------------------------------------------------- which runs have what


def dynamics_groups(groups: Sequence[RunGroup]) -> tuple[list[RunGroup], list[str]]:
    """The groups restricted to the seeds with training dynamics (at least one epoch), and sentences
    about what was left out. Raises ValueError naming ``record_train`` when no run has any."""
    kept, notes = [], []
    for group in groups:
        have = [r for r in group.runs if r.dynamics is not None and r.dynamics.epochs_done > 0]
        lacking = [r.config.seed for r in group.runs if r.dynamics is None or r.dynamics.epochs_done == 0]
        if lacking:
            notes.append(f"{group.label}: seeds {lacking} recorded no training dynamics")
        if have:
            kept.append(RunGroup(have))
            if any(not r.dynamics.clean for r in have) and group.config.method != "nt":
                notes.append(f"{group.label}: no clean statistics beside the adversarial ones (record_train_clean=False)")
    if not kept:
        raise ValueError(f"none of these {sum(len(g.runs) for g in groups)} runs recorded training dynamics "
                         f"(a dynamics/ folder in the run): {HOW_TO_RECORD}")
    return kept, notes


def probe_groups(groups: Sequence[RunGroup]) -> tuple[list[RunGroup], list[str]]:
    """The groups whose every seed recorded the training probe (split ``probe``), and notes on the others."""
    kept = [g for g in groups if g.has("probe") and g.num_points >= 2]
    notes = [f"{g.label}: no training-probe records; {HOW_TO_PROBE}" for g in groups if g not in kept]
    return kept, notes


def _sides(group: RunGroup) -> Iterator[tuple[str, bool]]:
    """(input, clean) of the statistics every seed recorded: the training forward, then the clean one."""
    stores = [r.dynamics for r in group.runs]
    yield str(stores[0].meta.get("input", "training")), False
    if all(s.clean for s in stores):
        yield CLEAN_INPUT, True


def _seed_fields(group: RunGroup, names: Sequence[str], clean: bool) -> list[dict[str, np.ndarray]]:
    """Per seed, the (E, N) arrays of ``names`` over the epochs every seed recorded."""
    stores = [r.dynamics for r in group.runs]
    epochs = min(s.epochs_done for s in stores)
    return [{n: s.field(n, clean)[:epochs] for n in names} for s in stores]


def _ids(group: RunGroup, side: tuple[str, bool]) -> dict:
    return {**analysis.group_ids(group), "input": side[0], "clean": side[1]}


# ----------------------------------------------------------------------------- forgetting (Toneva et al. 2019)


def _forgetting_buckets(correct: np.ndarray, max_events: int) -> tuple[np.ndarray, list[str]]:
    """Per presented example its bucket: events 0..max_events-1, ``max_events+``, then ``never learned``."""
    kinds = dm.forgetting_kinds(correct)
    bucket = np.minimum(dm.forgetting_events(correct), max_events)
    bucket[kinds == dm.FORGETTING_KINDS.index("never learned")] = max_events + 1
    names = [str(k) for k in range(max_events)] + [f"{max_events}+", "never learned"]
    return bucket[kinds != dm.FORGETTING_KINDS.index("never presented")], names


def forgetting_histogram(groups: Sequence[RunGroup], max_events: int = 8) -> pd.DataFrame:
    """Share of presented training examples by number of forgetting events (``max_events`` or more
    pooled), never-learned examples apart. Columns: ids, ``input``, ``clean``, ``bucket``, ``order``,
    ``mean``, ``std`` (fractions of the presented examples, over seeds)."""
    if max_events < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events}")
    parts = []
    for group in groups:
        for side in _sides(group):
            shares, names = [], []
            for fields in _seed_fields(group, ["correct"], side[1]):
                bucket, names = _forgetting_buckets(fields["correct"], max_events)
                shares.append(np.bincount(bucket, minlength=max_events + 2) / max(len(bucket), 1))
            mean, std, _ = analysis.seed_stats(np.stack(shares))
            parts.append(pd.DataFrame({**_ids(group, side), "bucket": names, "order": np.arange(len(names)),
                                       "mean": mean, "std": std}))
    return _frame(parts, [*SIDE_COLUMNS, "bucket", "order", "mean", "std"])


def forgetting_summary(groups: Sequence[RunGroup]) -> pd.DataFrame:
    """Share of presented training examples that are unforgettable (learned, never forgotten),
    forgotten at least once, or never learned. Columns: ids, ``input``, ``clean``, ``metric``
    (:data:`atlib.dynamics.metrics.FORGETTING_KINDS` but ``never presented``), ``mean``, ``std``."""
    names = list(dm.FORGETTING_KINDS[:3])
    parts = []
    for group in groups:
        for side in _sides(group):
            shares = []
            for fields in _seed_fields(group, ["correct"], side[1]):
                kinds = dm.forgetting_kinds(fields["correct"])
                kinds = kinds[kinds < 3]
                shares.append(np.bincount(kinds, minlength=3) / max(len(kinds), 1))
            mean, std, _ = analysis.seed_stats(np.stack(shares))
            parts.append(pd.DataFrame({**_ids(group, side), "metric": names, "mean": mean, "std": std}))
    return _frame(parts, [*SIDE_COLUMNS, "metric", "mean", "std"])


# ----------------------------------------------------------------------------- data maps (Swayamdipta et al. 2020), AUM


def _seed_mean(values: list[np.ndarray]) -> np.ndarray:
    return analysis.seed_stats(np.stack(values))[0]


def data_map(groups: Sequence[RunGroup], sample: int | None = 3000, seed: int = 0) -> pd.DataFrame:
    """Cartography coordinates of every training example (seed means of each seed's), with its regions.

    Columns: ids, ``input``, ``clean``, ``column`` (the example's column in the dynamics arrays),
    ``true_class``, ``confidence``, ``variability``, ``correctness``, ``easy``, ``ambiguous``, ``hard``
    (:func:`atlib.dynamics.metrics.data_map_regions`, computed on all examples) and each region's
    boundary: ``easy_from`` (lowest confidence in easy-to-learn), ``hard_below`` (highest in
    hard-to-learn), ``ambiguous_from`` (lowest variability in ambiguous). ``sample``: that many
    random examples per group and input (the same columns wherever N agrees), None for all.
    """
    parts = []
    for group in groups:
        labels = group.runs[0].dynamics.labels
        keep = np.arange(len(labels))
        if sample is not None and sample < len(keep):
            keep = np.sort(np.random.default_rng(seed).choice(keep, size=sample, replace=False))
        for side in _sides(group):
            maps = [dm.data_map(f["p_true"], f["correct"]) for f in _seed_fields(group, ["p_true", "correct"], side[1])]
            conf, var, corr = (_seed_mean([getattr(m, k) for m in maps]) for k in ("confidence", "variability", "correctness"))
            regions = dm.data_map_regions(conf, var)
            easy, ambiguous, hard = (regions[r] for r in dm.REGIONS)
            bounds = {"easy_from": np.min(conf[easy], initial=np.inf), "hard_below": np.max(conf[hard], initial=-np.inf),
                      "ambiguous_from": np.min(var[ambiguous], initial=np.inf)}
            parts.append(pd.DataFrame({**_ids(group, side), "column": keep, "true_class": labels[keep], "confidence": conf[keep],
                                       "variability": var[keep], "correctness": corr[keep], "easy": easy[keep],
                                       "ambiguous": ambiguous[keep], "hard": hard[keep], **bounds}))
    return _frame(parts, [*SIDE_COLUMNS, "column", "true_class", "confidence", "variability", "correctness", "easy", "ambiguous",
                          "hard", "easy_from", "hard_below", "ambiguous_from"])


def _histogram_parts(values: dict[tuple, tuple[dict, np.ndarray]], bins: int) -> list[pd.DataFrame]:
    """Density histograms with one set of edges per dataset, so its groups overlay directly."""
    parts = []
    for dataset in sorted({ids["dataset"] for ids, _ in values.values()}):
        mine = [(ids, v[np.isfinite(v)]) for ids, v in values.values() if ids["dataset"] == dataset]
        pooled = np.concatenate([v for _, v in mine])
        lo, hi = (float(pooled.min()), float(pooled.max())) if len(pooled) else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for ids, v in mine:
            _, density = profile_metrics.histogram(v, bins=edges)
            parts.append(pd.DataFrame({**ids, "bin_start": edges[:-1], "bin_end": edges[1:], "density": density}))
    return parts


def aum_distribution(groups: Sequence[RunGroup], bins: int = 40) -> pd.DataFrame:
    """Histogram of the training examples' AUM (mean logit margin over presentations, Pleiss et al.
    2020; per example the seed mean). Columns: ids, ``input``, ``clean``, ``bin_start``, ``bin_end``, ``density``."""
    values = {}
    for group in groups:
        for side in _sides(group):
            values[(group.label, side)] = (_ids(group, side),
                                           _seed_mean([dm.aum(f["margin"]) for f in _seed_fields(group, ["margin"], side[1])]))
    return _frame(_histogram_parts(values, bins), [*SIDE_COLUMNS, "bin_start", "bin_end", "density"])


def el2n_point(group: RunGroup, fraction: float = EL2N_FRACTION) -> int:
    """The record point nearest ``fraction`` of the group's training (its config's epochs)."""
    return dm.nearest_point(group.epochs, fraction, group.config.epochs)


def el2n_scores(group: RunGroup, fraction: float = EL2N_FRACTION) -> np.ndarray:
    """(N_probe,) EL2N of each probe example at :func:`el2n_point`, averaged over seeds."""
    point = el2n_point(group, fraction)
    return dm.el2n(np.stack([r.probs("probe")[point] for r in group.runs]), group.labels("probe"))


def el2n_distribution(groups: Sequence[RunGroup], fraction: float = EL2N_FRACTION, bins: int = 40) -> pd.DataFrame:
    """Histogram of the probe examples' EL2N (Paul et al. 2021) at the record point nearest ``fraction``
    of training. Columns: ids, ``epoch``, ``bin_start``, ``bin_end``, ``density``."""
    values = {}
    for group in groups:
        ids = {**analysis.group_ids(group), "epoch": float(group.epochs[el2n_point(group, fraction)])}
        values[group.label] = (ids, el2n_scores(group, fraction))
    return _frame(_histogram_parts(values, bins), [*ID_COLUMNS, "epoch", "bin_start", "bin_end", "density"])


# ----------------------------------------------------------------------------- the training probe: categories vs forgetting and AUM


def probe_scores(group: RunGroup, threshold: float | None = None,
                 fraction: float = EL2N_FRACTION, clean: bool = False) -> pd.DataFrame:
    """One row per probe example: its Appendix B ``category`` and ``total_drop`` (from the probe's
    seed-averaged learning profiles, as for test points), and from the training statistics (seed means)
    ``forgetting`` (events, a never-learned example counting its presentations as Toneva et al. rank it:
    :func:`atlib.dynamics.metrics.forgetting_score`), ``never_learned`` (share of seeds, kept apart), ``aum``,
    ``confidence``, ``variability``;
    ``el2n`` at :func:`el2n_point`. Also ``row`` (probe record row), ``column``, ``label``. ``threshold`` None:
    the group's ``default_threshold``."""
    conf, acc = analysis.profiles(group, "probe")
    categories = profile_metrics.point_categories(conf, acc, threshold)
    columns = group.runs[0].probe_index()
    seeds = _seed_fields(group, ["correct", "margin", "p_true"], clean)
    per_seed = {"forgetting": [], "never_learned": [], "aum": [], "confidence": [], "variability": []}
    for f in seeds:
        correct = f["correct"][:, columns]
        kinds = dm.forgetting_kinds(correct)
        never = kinds == dm.FORGETTING_KINDS.index("never learned")
        per_seed["forgetting"].append(dm.forgetting_score(correct))
        per_seed["never_learned"].append(np.where(kinds == 3, np.nan, never))
        per_seed["aum"].append(dm.aum(f["margin"][:, columns]))
        m = dm.data_map(f["p_true"][:, columns], correct)
        per_seed["confidence"].append(m.confidence)
        per_seed["variability"].append(m.variability)
    return pd.DataFrame({"row": np.arange(len(columns)), "column": columns, "label": group.labels("probe"),
                         "category": categories.names(), "total_drop": categories.total_drop,
                         **{k: _seed_mean(v) for k, v in per_seed.items()}, "el2n": el2n_scores(group, fraction)})


def probe_crosstab(groups: Sequence[RunGroup], threshold: float | None = None,
                   clean: bool = False) -> pd.DataFrame:
    """Probe examples by Appendix B category against their forgetting events (:data:`CROSS_BUCKETS`),
    counts summed over seeds (each seed's events against the group's category). Columns: ids,
    ``category``, ``bucket``, ``count``, ``percentage`` (of the category's examples)."""
    parts = []
    for group in groups:
        conf, acc = analysis.profiles(group, "probe")
        category = profile_metrics.point_categories(conf, acc, threshold).categories
        columns = group.runs[0].probe_index()
        counts = np.zeros((len(profile_metrics.CATEGORIES), len(CROSS_BUCKETS)), dtype=np.int64)
        for f in _seed_fields(group, ["correct"], clean):
            correct = f["correct"][:, columns]
            kinds = dm.forgetting_kinds(correct)
            bucket = np.minimum(dm.forgetting_events(correct), 3)
            bucket[kinds == dm.FORGETTING_KINDS.index("never learned")] = 4
            seen = kinds != dm.FORGETTING_KINDS.index("never presented")
            np.add.at(counts, (category[seen], bucket[seen]), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            percent = 100.0 * counts / counts.sum(axis=1, keepdims=True)
        parts.append(pd.DataFrame({**analysis.group_ids(group),
                                   "category": np.repeat(profile_metrics.CATEGORIES, len(CROSS_BUCKETS)),
                                   "bucket": np.tile(CROSS_BUCKETS, len(profile_metrics.CATEGORIES)),
                                   "count": counts.ravel(), "percentage": np.nan_to_num(percent).ravel()}))
    return _frame(parts, [*ID_COLUMNS, "category", "bucket", "count", "percentage"])


CORRELATED = (("total_drop", "forgetting"), ("total_drop", "aum"), ("forgetting", "aum"), ("el2n", "aum"),
              ("el2n", "forgetting"))  # the pairs probe_correlations reports


def probe_correlations(groups: Sequence[RunGroup], threshold: float | None = None,
                       fraction: float = EL2N_FRACTION, clean: bool = False) -> pd.DataFrame:
    """Spearman rank correlation between the probe's scores (:data:`CORRELATED` pairs of
    :func:`probe_scores` columns), over the examples where both are defined. Columns: ids, ``x``,
    ``y``, ``spearman``, ``n``. NaN where a score is constant (e.g. no example ever forgotten)."""
    parts = []
    for group in groups:
        scores = probe_scores(group, threshold, fraction, clean)
        rows = []
        for x, y in CORRELATED:
            ok = np.isfinite(scores[x]) & np.isfinite(scores[y])
            a, b = scores[x][ok].to_numpy(), scores[y][ok].to_numpy()
            rho = float(spearmanr(a, b).statistic) if ok.sum() > 2 and np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan
            rows.append({"x": x, "y": y, "spearman": rho, "n": int(ok.sum())})
        parts.append(pd.DataFrame(rows).assign(**analysis.group_ids(group)))
    return _frame(parts, [*ID_COLUMNS, "x", "y", "spearman", "n"])


# ----------------------------------------------------------------------------- synthesized images


def suspicious_synthetic(group: RunGroup, count: int = 24) -> pd.DataFrame:
    """The ``count`` synthesized images of lowest AUM over all their draws in all seeds (likely wrong
    labels). Columns: ``index`` (row of the synthesized set), ``label``, ``class_name``, ``aum``,
    ``draws``, ``correct`` (share of draws classified as the label; the model chose another class in
    the rest; which one is not recorded). Lowest AUM first."""
    rows = [r.dynamics.synthetic() for r in group.runs]
    pooled = {k: np.concatenate([r[k] for r in rows]) for k in ("index", "label", "margin", "correct")}
    if not len(pooled["index"]):
        raise ValueError(f"{group.label}: no synthesized rows recorded (trained without synthetic data, or before "
                         f"atlib recorded them)")
    s = dm.synthetic_scores(pooled["index"], pooled["label"], pooled["margin"], pooled["correct"])
    order = np.argsort(s.aum, kind="stable")[:count]
    n_classes = int(group.runs[0].probs("test").shape[-1])
    names = np.asarray(analysis.dataset_class_names(group.config.dataset, n_classes), dtype=object)
    return pd.DataFrame({"index": s.index[order], "label": s.label[order], "class_name": names[s.label[order]],
                         "aum": s.aum[order], "draws": s.draws[order], "correct": s.correct[order]})


def synthetic_images(group: RunGroup, index: np.ndarray) -> np.ndarray:
    """uint8 (K, H, W, 3) rows of the group's synthesized set (the path its first run recorded at start)."""
    from atlib.data import load_synthetic  # its loaders may pull torch

    run = group.runs[0]
    path = (run.inputs.get("synthetic") or {}).get("path") or run.config.synthetic
    if not path:
        raise FileNotFoundError(f"{group.label}: the run records no synthesized data path")
    return np.asarray(load_synthetic(path).images[np.asarray(index)])


# ----------------------------------------------------------------------------- one example's history (the explorer)


def presentation_history(group: RunGroup, column: int, clean: bool = False) -> pd.DataFrame:
    """One training example's ``loss`` and ``margin`` at each epoch (1 = the first), mean over the
    seeds that presented it then (NaN if none). Columns: ``epoch``, ``field``, ``value``, ``seeds``."""
    seeds = _seed_fields(group, ["loss", "margin"], clean)
    parts = []
    for name in ("loss", "margin"):
        values = np.stack([f[name][:, column] for f in seeds])  # (S, E)
        mean, _, n = analysis.seed_stats(values)
        parts.append(pd.DataFrame({"epoch": np.arange(1, values.shape[1] + 1), "field": name, "value": mean, "seeds": n}))
    return pd.concat(parts, ignore_index=True)
