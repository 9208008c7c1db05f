"""The paper's analyses as tidy pandas DataFrames, one function per figure.

Every function takes the seed groups of :func:`atlib.store.runs.group_seeds` and returns a long-format
frame whose first columns identify the group (:data:`ID_COLUMNS`: its setting's columns ``label``,
``series``, ``dataset``, ``model``, ``method``, ``epsilon_255``, ``synthetic``, ``data`` from
:meth:`atlib.setting.Setting.columns`, and ``n_seeds``), so one frame feeds a chart, a table or a filter alike. Seeds are averaged: ``mean`` and ``std`` are the mean and
the sample standard deviation (ddof=1) over seeds, with std 0 for a single seed; ``n_seeds``
counts the seeds that had the value (a seed still training has no final metrics yet).

Recorded probabilities are float16 memmaps that may be larger than memory allows in float64
(CIFAR-100, 5 seeds, 120 points: 1.2 GB), so everything here reads them one run and one record
point (or one chunk, via :mod:`atlib.metrics`) at a time and never stacks a group's seeds.
Pure NumPy and pandas: analysis never needs torch, a GPU or a model.

One module on purpose, though past 400 lines: one short function per figure, all sharing the same
identifying columns and seed statistics (``group_ids``, ``seed_stats``, ``_frame``), which a split would
scatter; the training-set dynamics' frames live apart, in :mod:`atlib.dynamics.frames`.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from atlib import metrics
from atlib.datasets import CIFAR_C_COMMON, CIFAR_C_CORRUPTIONS, DATASET_INFO, dataset_info
from atlib.store.runs import Run, RunGroup, load_run
from atlib.setting import SETTING_COLUMNS, method_info

ID_COLUMNS = (*SETTING_COLUMNS, "n_seeds")
CIFAR_C_CONVENTIONS = ("seed_paper", "robustbench")
CURVE_METRICS = ("train_loss", "train_acc", "test_acc", "neg_acc")


# ----------------------------------------------------------------------------- shared helpers


def group_ids(group: RunGroup) -> dict[str, Any]:
    """The identifying columns of one group: its setting's (``data`` is ``original`` or the synthetic set's tag) and ``n_seeds``."""
    return {**group.setting.columns(), "n_seeds": len(group.runs)}


def seed_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample std (ddof=1; 0 for one seed) and count over axis 0 (seeds), ignoring NaN.

    NaN marks a seed that lacks the value; a column no seed has gets mean NaN and count 0.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, v, 0.0).sum(axis=0) / n
        var = np.where(ok, v - mean, 0.0) ** 2
        var = var.sum(axis=0) / np.maximum(n - 1, 1)
    return np.where(n > 0, mean, np.nan), np.where(n > 1, np.sqrt(var), 0.0), n


def _frame(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-group parts; an empty result still has the documented columns."""
    if not parts:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(parts, ignore_index=True)[list(columns)]


def _part(ids: dict[str, Any], **columns: Any) -> pd.DataFrame:
    """One group's rows: the id values broadcast over the array columns."""
    return pd.DataFrame({**ids, **columns})


def _stats_part(group: RunGroup, values: np.ndarray, **columns: Any) -> pd.DataFrame | None:
    """Rows of ``mean``/``std`` over seeds of (S, ...) ``values``; None when no seed had a value."""
    mean, std, n = seed_stats(values)
    keep = n > 0
    if not keep.any():
        return None
    extra = {k: np.asarray(v)[keep] if np.ndim(v) else v for k, v in columns.items()}
    return _part({**group_ids(group), "n_seeds": n[keep]}, **extra, mean=mean[keep], std=std[keep])


def _point(group: RunGroup, point: int) -> int:
    """A record point index (negative counts from the end) checked against the seeds' shared points."""
    t = group.num_points
    if not -t <= point < t:
        raise ValueError(f"{group.label}: record point {point} out of range; the seeds share {t} points (use 0..{t - 1} or -1)")
    return point % t


@functools.lru_cache(maxsize=8)  # a paper-scale CIFAR-100 profile (480 points x 10k) is 38 MB
def _cached_profiles(paths: tuple[str, ...], stamps: tuple[int, ...], t: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Sum of per-seed profiles over seeds, divided by S: the same float operations, in the same
    order, as ``metrics.learning_profiles`` on the stacked seeds. ``stamps`` only keys the cache."""
    conf_sum, acc_sum = 0.0, 0.0
    for path in paths:
        run = load_run(path)
        conf, acc = metrics.learning_profiles(run.probs(split)[:t], run.labels(split))
        conf_sum, acc_sum = conf_sum + conf, acc_sum + acc
    return conf_sum / len(paths), acc_sum / len(paths)


def profiles(group: RunGroup, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Seed-averaged learning profiles (confidences (T, N), accuracies (T,)) of a group.

    Equal to ``metrics.learning_profiles(group.probs(split), labels)`` but reads one seed at a time
    instead of stacking all seeds in memory, and is cached (keyed by the runs' record indexes), so
    categories, threshold sweeps and galleries of one group scan the records once.
    """
    if not group.has(split):
        raise KeyError(f"{group.label}: no {split!r} records in every seed")
    paths = tuple(str(r.path) for r in group.runs)
    stamps = tuple(r.records_stamp for r in group.runs)
    conf, acc = _cached_profiles(paths, stamps, group.num_points, split)
    return conf.copy(), acc.copy()


# ----------------------------------------------------------------------------- entropy (Fig 1)


def entropy_distribution(groups: Sequence[RunGroup], point: int = -1, bins: int = 40, split: str = "test") -> pd.DataFrame:
    """Fig 1a: histogram of the entropy of every test prediction at one record point, seeds pooled.
    ``split`` reads another recorded set: ``neg``, ``probe`` (training points), ``test_ema`` (an EMA model).

    Columns: ids, ``epoch``, ``bin_start``, ``bin_end``, ``density``. Bins span [0, log C] (C
    classes), the same edges for every group of a dataset, so distributions overlay directly;
    entropies are clipped into that range because float16 rounding can push a near-uniform row a
    hair past log C. Histogrammed here so charts never carry the 10,000 raw values per seed.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    parts = []
    for group in groups:
        p = _point(group, point)
        values = [metrics.entropy(run.probs(split)[p]) for run in group.runs]
        log_c = float(np.log(group.runs[0].probs(split).shape[-1]))
        edges, density = metrics.histogram(np.clip(np.concatenate(values), 0.0, log_c), bins=np.linspace(0.0, log_c, bins + 1))
        parts.append(_part(group_ids(group), epoch=float(group.epochs[p]), bin_start=edges[:-1], bin_end=edges[1:], density=density))
    return _frame(parts, [*ID_COLUMNS, "epoch", "bin_start", "bin_end", "density"])


def mean_entropy_curves(groups: Sequence[RunGroup], split: str = "test") -> pd.DataFrame:
    """Fig 1b: mean entropy over test points (or ``split``'s) at every record point. Columns: ids, ``epoch``,
    ``mean``, ``std``."""
    parts = []
    for group in groups:
        t = group.num_points
        values = np.stack([metrics.mean_entropy_over_time(run.probs(split)[:t]) for run in group.runs])
        parts.append(_stats_part(group, values, epoch=group.epochs))
    return _frame([p for p in parts if p is not None], [*ID_COLUMNS, "epoch", "mean", "std"])


# ----------------------------------------------------------------------------- point categories (Fig 2, 3, 6)


def _category_rows(group: RunGroup, threshold: float, percentages: Sequence[float], n: int) -> pd.DataFrame:
    """One group's four rows (categories in :data:`atlib.metrics.CATEGORIES` order) at one threshold, of ``n`` points."""
    percentages = np.asarray(percentages, dtype=np.float64)
    return _part(group_ids(group), threshold=threshold, category=list(metrics.CATEGORIES),
                 count=np.rint(percentages * n / 100).astype(np.int64), percentage=percentages)


def category_table(groups: Sequence[RunGroup], threshold: float | None = None, split: str = "test") -> pd.DataFrame:
    """Fig 2/3: share of test points in each category of Appendix B, from the seed-averaged profiles.

    ``threshold`` None is each group's :func:`atlib.metrics.default_threshold` (it depends on the number of
    record points). Columns: ids, ``threshold`` (the one used), ``category`` (in :data:`atlib.metrics.CATEGORIES` order), ``count``,
    ``percentage`` (sums to 100 per group). Groups with fewer than 2 record points are skipped:
    a profile needs two points to drop (:func:`describe_missing` names them).
    """
    parts = []
    for group in groups:
        if group.num_points >= 2:
            conf, acc = profiles(group, split)
            result = metrics.point_categories(conf, acc, threshold)
            parts.append(_category_rows(group, result.threshold, [result.percentages[c] for c in metrics.CATEGORIES],
                                        conf.shape[1]))
    return _frame(parts, [*ID_COLUMNS, "threshold", "category", "count", "percentage"])


def threshold_sweep(group: RunGroup, thresholds: Iterable[float] | None = None, split: str = "test") -> pd.DataFrame:
    """Category shares of one group for each non-monotonicity threshold (the paper leaves it open); by default
    :func:`atlib.metrics.threshold_grid` (0.25-2 times the group's default).

    Columns: ids, ``threshold``, ``category``, ``count``, ``percentage``, ``default`` (the group's default threshold).
    """
    conf, acc = profiles(group, split)
    grid = metrics.threshold_grid(group.num_points) if thresholds is None else np.asarray(list(thresholds), dtype=np.float64)
    shares = metrics.category_shares(conf, acc, grid)
    parts = [_category_rows(group, float(th), row, conf.shape[1]) for th, row in zip(grid, shares)]
    frame = _frame(parts, [*ID_COLUMNS, "threshold", "category", "count", "percentage"])
    return frame.assign(default=metrics.default_threshold(group.num_points))


def dataset_class_names(dataset: str, num_classes: int) -> list[str]:
    """The dataset's class names, or class indices as text when the count does not match."""
    names = DATASET_INFO[dataset].classes if dataset in DATASET_INFO else ()
    return list(names) if len(names) == num_classes else [str(i) for i in range(num_classes)]


def category_examples(group: RunGroup, per_category: int = 4, threshold: float | None = None,
                      seed: int = 0, split: str = "test") -> pd.DataFrame:
    """Up to ``per_category`` random points of each category (of ``split``: test by default), for galleries (Fig 6).

    Columns: ``index`` (row of the run's records of ``split``, also of :func:`eval_images`), ``category``,
    ``label`` (true class index), ``total_drop`` (the non-monotonicity score), ``class_name``.
    ``seed`` makes the picks reproducible; ``threshold`` None is the group's default.
    """
    if per_category < 1:
        raise ValueError(f"per_category must be >= 1, got {per_category}")
    conf, acc = profiles(group, split)
    result = metrics.point_categories(conf, acc, threshold)
    labels = group.labels(split)
    names = dataset_class_names(group.config.dataset, group.runs[0].probs(split).shape[-1])
    rng = np.random.default_rng(seed)
    picks = []
    for k in range(len(metrics.CATEGORIES)):
        members = np.flatnonzero(result.categories == k)
        picks.append(np.sort(rng.choice(members, size=min(per_category, len(members)), replace=False)))
    index = np.concatenate(picks).astype(np.int64)
    return pd.DataFrame({
        "index": index, "category": result.names()[index], "label": labels[index], "total_drop": result.total_drop[index],
        "class_name": np.asarray(names, dtype=object)[labels[index]],
    })


def learning_profile(group: RunGroup, index: int, split: str = "test", class_names: Sequence[str] | None = None,
                     top_k: int | None = None) -> pd.DataFrame:
    """Fig 6: seed-averaged probability of every class for one example over training.

    Columns: ``epoch``, ``class_index``, ``class_name``, ``probability``, ``is_true``, ``global_acc``
    (the group's seed-averaged recorded test accuracy, the x-axis of Kaplun et al.'s profiles).
    With ``top_k``, the true class and the ``top_k - 1`` classes of highest mean probability are
    kept and the rest summed into one ``other`` row per epoch (class_index -1): CIFAR-100's 100
    classes are unreadable in a stacked chart.
    """
    if not group.has(split):
        raise KeyError(f"{group.label}: no {split!r} records in every seed")
    labels = group.labels(split)
    if not 0 <= index < len(labels):
        raise ValueError(f"index {index} out of range: the {split!r} records hold {len(labels)} examples")
    t = group.num_points
    probs = np.mean([run.probs(split)[:t, index, :].astype(np.float64) for run in group.runs], axis=0)  # (T, C)
    n_classes = probs.shape[1]
    names = list(class_names) if class_names is not None else dataset_class_names(group.config.dataset, n_classes)
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} names but the records have {n_classes} classes")
    true = int(labels[index])
    keep = np.arange(n_classes)
    if top_k is not None and top_k < n_classes:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
        others = [c for c in np.argsort(-probs.mean(axis=0), kind="stable") if c != true]
        keep = np.sort(np.array([true, *others[: top_k - 1]]))
    shown, ids, shown_names = probs[:, keep], list(keep), [names[c] for c in keep]
    if len(keep) < n_classes:
        shown = np.concatenate([shown, np.delete(probs, keep, axis=1).sum(axis=1, keepdims=True)], axis=1)
        ids, shown_names = [*ids, -1], [*shown_names, "other"]
    ids_arr = np.asarray(ids, dtype=np.int64)
    k = len(ids_arr)
    return pd.DataFrame({
        "epoch": np.repeat(group.epochs, k),
        "class_index": np.tile(ids_arr, t),
        "class_name": np.tile(np.asarray(shown_names, dtype=object), t),
        "probability": shown.ravel(),
        "is_true": np.tile(ids_arr == true, t),
        "global_acc": np.repeat(seed_stats(group.point_values("test_acc"))[0], k),
    })


# ----------------------------------------------------------------------------- CIFAR-10-NEG, CIFAR-C, robustness (Fig 4, 5, 7, 8)


def neg_accuracy_curves(groups: Sequence[RunGroup]) -> pd.DataFrame:
    """Fig 4: CIFAR-10-NEG accuracy at every record point. Columns: ids, ``epoch``, ``mean``, ``std``.

    Groups without NEG records (CIFAR-100, or NEG data unavailable at training) are skipped.
    """
    parts = [_stats_part(g, g.point_values("neg_acc"), epoch=g.epochs) for g in groups if g.has("neg")]
    return _frame([p for p in parts if p is not None], [*ID_COLUMNS, "epoch", "mean", "std"])


def _cifar_c_source(group: RunGroup) -> str:
    kinds = sorted({r.cifar_c.get("source", {}).get("kind", "unknown") for r in group.runs if r.cifar_c})
    return "+".join(kinds)


def cifar_c_summary(groups: Sequence[RunGroup], convention: str = "seed_paper") -> pd.DataFrame:
    """Fig 5: mean CIFAR-C accuracy of each group. Columns: ids, ``convention``, ``mean``, ``std``, ``source``.

    ``convention`` picks the average: ``seed_paper`` (all 19 corruptions, the paper's) or
    ``robustbench`` (the 15 common ones). ``source`` says whether the released CIFAR-C files or
    atlib-generated ones were used. Groups without CIFAR-C metrics are skipped.
    """
    if convention not in CIFAR_C_CONVENTIONS:
        raise ValueError(f"convention must be one of {CIFAR_C_CONVENTIONS}, got {convention!r}")
    parts = []
    for group in groups:
        part = _stats_part(group, group.metric_values("cifar_c", f"{convention}_mean")[:, None], convention=[convention])
        if part is not None:
            parts.append(part.assign(source=_cifar_c_source(group)))
    return _frame(parts, [*ID_COLUMNS, "convention", "mean", "std", "source"])


def cifar_c_per_corruption(groups: Sequence[RunGroup]) -> pd.DataFrame:
    """Fig 7/8: accuracy per corruption (severities pooled). Columns: ids, ``corruption``, ``common``, ``mean``, ``std``.

    ``common`` marks the 15 corruptions of the RobustBench average. Groups without CIFAR-C metrics are skipped.
    """
    parts = []
    for group in groups:
        found = {c for r in group.runs for c in r.cifar_c.get("pooled", {})}
        names = [c for c in CIFAR_C_CORRUPTIONS if c in found] + sorted(found - set(CIFAR_C_CORRUPTIONS))
        if names:
            values = np.stack([group.metric_values("cifar_c", "pooled", c) for c in names], axis=1)
            parts.append(_stats_part(group, values, corruption=names, common=[c in CIFAR_C_COMMON for c in names]))
    return _frame([p for p in parts if p is not None], [*ID_COLUMNS, "corruption", "common", "mean", "std"])


ROBUST_ATTACKS = {"PGD": ("robust_acc",), "AutoAttack": ("autoattack", "robust_acc")}  # label -> where the final metrics keep it


def robust_summary(groups: Sequence[RunGroup]) -> pd.DataFrame:
    """Robust and clean accuracy of each group's final models, one row per attack and evaluation budget:
    PGD (measured at the end of training) and AutoAttack where ``python -m atlib.evaluate --autoattack``
    added it (on the same class-balanced rows).

    Columns: ids, ``attack``, ``eval_epsilon_255``, ``robust_mean``, ``robust_std``, ``clean_mean``, ``clean_std``.
    ``n_seeds`` counts the seeds with that robust accuracy. Groups never evaluated under attack are skipped.
    """
    parts = []
    for group in groups:
        c_mean, c_std, _ = seed_stats(group.metric_values("clean_acc"))
        for attack, keys in ROBUST_ATTACKS.items():
            found = [r.final_metric(*keys) or {} for r in group.runs]
            budgets = sorted({k for values in found for k in values}, key=float)
            if not budgets:
                continue
            robust = np.stack([group.metric_values(*keys, b) for b in budgets], axis=1)
            r_mean, r_std, n = seed_stats(robust)
            parts.append(_part({**group_ids(group), "n_seeds": n}, attack=attack, eval_epsilon_255=[float(b) for b in budgets],
                               robust_mean=r_mean, robust_std=r_std, clean_mean=float(c_mean), clean_std=float(c_std)))
    return _frame(parts, [*ID_COLUMNS, "attack", "eval_epsilon_255", "robust_mean", "robust_std", "clean_mean", "clean_std"])


def training_curves(items: Sequence[Run | RunGroup] | Run | RunGroup) -> pd.DataFrame:
    """Recorded training curves in long form. Columns: ids, ``seed``, ``epoch``, ``metric``, ``value``, ``std``.

    A :class:`Run` gives its own values (``seed`` set, ``std`` 0); a :class:`RunGroup` gives the mean
    and std over its seeds (``seed`` missing). Metrics: :data:`CURVE_METRICS`; one a run never
    recorded (``neg_acc`` without NEG data) is left out.
    """
    if isinstance(items, (Run, RunGroup)):
        items = [items]
    parts = []
    for item in items:
        group = item if isinstance(item, RunGroup) else RunGroup([item])
        seed = np.nan if isinstance(item, RunGroup) else float(item.config.seed)
        for name in CURVE_METRICS:
            part = _stats_part(group, group.point_values(name), epoch=group.epochs, metric=name)
            if part is not None:
                parts.append(part.rename(columns={"mean": "value"}).assign(seed=seed))
    return _frame(parts, [*ID_COLUMNS, "seed", "epoch", "metric", "value", "std"])


# ----------------------------------------------------------------------------- images and gaps


def split_rows(run: Run | RunGroup, split: str) -> np.ndarray:
    """Rows of the full dataset split behind a run's records of ``split``: test rows for ``test`` (all of
    them without a test subset), training rows for the training ``probe``, every row for ``neg``."""
    run = run.runs[0] if isinstance(run, RunGroup) else run
    if split == "test":
        return run.test_index()
    if split == "neg":
        return np.arange(len(run.labels("neg")))
    if split != "probe":
        raise ValueError(f"split must be 'test', 'neg' or 'probe', got {split!r}")
    probe = run.probe_index()  # rows of the run's training set
    return run.train_index()[probe]


def eval_images(run: Run | RunGroup, split: str = "test") -> np.ndarray:
    """uint8 (N, S, S, 3), S the dataset's image size: the images behind a run's records, row for row.

    Reads the inputs the run recorded when it started (``Run.inputs``), so any process finds them,
    whatever its environment; loads them with ``atlib.data`` (imported here because its loaders may
    pull torch) and checks their labels against the recorded ones, so a moved or different dataset
    fails loudly instead of showing the wrong pictures.
    """
    from atlib.data import load_cifar10_neg, load_dataset

    run = run.runs[0] if isinstance(run, RunGroup) else run
    inputs = run.inputs
    if split == "neg":
        images, labels = load_cifar10_neg(inputs["neg_path"])[:2]
    else:
        index = split_rows(run, split)
        full = load_dataset(run.config.dataset, "test" if split == "test" else "train", inputs["data_root"])
        images, labels = full.images[index], full.labels[index]
    recorded = run.labels(split)
    if len(labels) != len(recorded) or not np.array_equal(labels, recorded):
        raise ValueError(
            f"{run.name}: the {split!r} images found do not match the recorded labels; point data_root/neg_path "
            f"at the data the run was trained with"
        )
    return np.asarray(images)


def _eps_text(eps_255: float) -> str:
    return f"ε={eps_255:g}/255"


def describe_missing(groups: Sequence[RunGroup], datasets: Sequence[str] | None = None,
                     epsilons: Sequence[float] | None = None, seeds: int | Sequence[int] | None = None) -> list[str]:
    """Plain sentences about what the figures will lack, for notebooks to print above them.

    ``datasets``, ``epsilons`` (AT budgets in 1/255) and ``seeds`` (a count, or the seed values)
    state what a full reproduction has; gaps against them are reported, as are unfinished runs,
    single-seed groups (no std), missing NEG/CIFAR-C/robust evaluations and seeds that disagree
    on how many record points they have.
    """
    if not groups:
        return ["no runs found: train some with `python -m atlib.train` or point the notebook at a runs folder"]
    notes = []
    present = sorted({g.config.dataset for g in groups})
    for dataset in datasets or present:
        mine = [g for g in groups if g.config.dataset == dataset]
        if not mine:
            notes.append(f"no runs for {dataset}")
            continue
        for method in ("nt", "at"):
            if not any(g.config.method == method for g in mine):
                notes.append(f"no {method_info(method).label} runs for {dataset}")
        have = {g.config.epsilon_255 for g in mine if g.config.method == "at"}
        lacking = [e for e in (epsilons or ()) if float(e) not in have]
        if lacking:
            notes.append(f"no AT runs for {dataset} at {', '.join(_eps_text(e) for e in lacking)}")
        if not any(g.config.uses_synthetic for g in mine):
            notes.append(f"no runs with synthesized data for {dataset}: Fig 5 shows original data only")
        info = dataset_info(dataset)
        if not info.has_neg:
            notes.append(f"no NEG set exists for {info.title}: the NEG figures leave it out")
        if not info.has_corrupted:
            notes.append(f"no corrupted version (CIFAR-C) exists for {info.title}: the corruption figures leave it out")
    if len({g.config.model for g in groups}) > 1:
        notes.append(f"runs of several models ({', '.join(sorted({g.config.model for g in groups}))}): filter by `model`")
    wanted = None if seeds is None else (set(range(seeds)) if isinstance(seeds, int) else set(seeds))
    for g in groups:
        name = f"{g.label} ({g.config.dataset})"
        if wanted is not None and not wanted <= set(g.seeds):
            notes.append(f"{name}: seeds {sorted(wanted - set(g.seeds))} missing (have {g.seeds})")
        if len(g.runs) == 1:
            notes.append(f"only 1 seed for {name}: std not shown")
        unfinished = [r.config.seed for r in g.runs if not r.complete]
        if unfinished:
            notes.append(f"{name}: seeds {unfinished} not finished (no final metrics yet)")
        points = {r.num_points for r in g.runs}
        if len(points) > 1:
            notes.append(f"{name}: seeds have {sorted(points)} record points; curves use the first {g.num_points}")
        if g.num_points < 2:
            notes.append(f"{name}: only {g.num_points} record point; point categories need at least 2")
    by_gap = {
        "CIFAR-10-NEG not recorded for": [g for g in groups if dataset_info(g.config.dataset).has_neg and not g.has("neg")],
        "CIFAR-C not evaluated for": [g for g in groups if any(r.complete for r in g.runs)
                                      and dataset_info(g.config.dataset).has_corrupted
                                      and not any(r.cifar_c for r in g.runs)],
        "robust accuracy not evaluated for": [g for g in groups if any(r.complete for r in g.runs)
                                              and not any(r.robust_acc for r in g.runs)],
    }
    for text, gap in by_gap.items():
        if gap:
            notes.append(f"{text}: {', '.join(f'{g.label} ({g.config.dataset})' for g in gap)}")
    return notes
