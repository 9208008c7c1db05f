"""The explorer's data: run groups evaluated on the same images, summarized once, read one image at a time.

Three numbers identify an image. Each has one name, in the code and on screen:

- **record row** (``row``): the image's row in the runs' records, hence in ``ProfileSet.labels`` and
  ``images`` and in the ``index`` that :mod:`atlib.analysis` functions take; shown as "record row 7".
- **dataset index** (``dataset_index[row]``): the image's row in the full dataset split, what a user
  quotes and what ``export_html(dataset_indices=...)`` takes; shown as "CIFAR-10 test index 1234"
  (:attr:`ProfileSet.index_name`). It differs from the record row when the runs evaluated a subset.
- **pick**: the image's place in one chart's list of images (the slider's value in the widget and the
  export, a cell of the gallery); the ``pick`` field of the chart rows (:meth:`ProfileSet.chart_rows`).

Filters and sorts need a few facts about all N images (categories, total drop, final prediction and
entropy): :func:`summarize_group` computes them once, one seed at a time. Everything about one image
is then read from each run's memory-mapped records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlib import analysis, metrics
from atlib.datasets import dataset_info, title as dataset_title
from atlib.plots import profiles
from atlib.dynamics.frames import presentation_history
from atlib.explorer import SPLITS
from atlib.store.runs import Run, RunGroup, group_seeds, load_runs

ALL = "all"
SORTS = ("non-monotonicity", "entropy", "dataset index")
HISTORY_DATA = "history"  # the dataset of a probe image's presentation history (chart_rows)
OUTCOMES = (ALL, "right", "wrong")
PROFILE_TOP_K = 10  # classes shown in a profile (true class + 9 likeliest, rest summed): CIFAR-100 stays readable
RunsLike = str | Path | Sequence[str | Path] | Sequence[Run] | Sequence[RunGroup]


@dataclass(frozen=True)
class GroupSummary:
    """What filters, sorts and the category table need about every image, for one run group."""

    group: RunGroup
    categories: metrics.CategoryResult  # from the seed-averaged profiles, as analysis.category_table
    final_probs: np.ndarray  # (N, C) float32: seed-averaged probabilities at the last record point
    final_entropy: np.ndarray  # (N,): entropy of each seed's final prediction, averaged over seeds
    autoattack: tuple[str, np.ndarray] | None = None  # (budget, (S, N) 1 robust / 0 broken / NaN not attacked) per seed

    @property
    def final_prediction(self) -> np.ndarray:
        return self.final_probs.argmax(axis=1)


def summarize_group(group: RunGroup, split: str, threshold: float | None) -> GroupSummary:
    """Categories, final predictions and final entropies of every image of ``split`` for one group."""
    if group.num_points < 2:
        raise ValueError(f"{group.label}: only {group.num_points} record point(s); point categories need at least 2 "
                         f"(let the runs record more points)")
    conf, acc = analysis.profiles(group, split)
    last = group.num_points - 1
    finals = [np.asarray(run.probs(split)[last], dtype=np.float32) for run in group.runs]
    return GroupSummary(
        group=group,
        categories=metrics.point_categories(conf, acc, threshold),
        final_probs=np.mean(finals, axis=0, dtype=np.float32),
        final_entropy=np.mean([metrics.entropy(p) for p in finals], axis=0),
        autoattack=autoattack_per_image(group, len(finals[0])) if split == "test" else None,
    )


def autoattack_per_image(group: RunGroup, n: int) -> tuple[str, np.ndarray] | None:
    """Which test images each seed's final model keeps robust under AutoAttack (``python -m atlib.evaluate
    --autoattack``), at the training budget when evaluated there, else the largest: the budget and an
    (S, N) array by record row (NaN where an image was not attacked), or None if no seed was evaluated."""
    results = [r.autoattack for r in group.runs]
    budgets = sorted({k for res in results for k in res.get("per_image", {})}, key=float)
    if not budgets:
        return None
    trained = f"{group.config.epsilon_255:g}"
    budget = trained if trained in budgets else budgets[-1]
    out = np.full((len(results), n), np.nan)
    for seed, res in enumerate(results):
        flags = res.get("per_image", {}).get(budget)
        if flags is not None:
            out[seed, np.asarray(res["rows"], dtype=np.int64)] = np.asarray(flags["robust"], dtype=float)
    return budget, out


def resolve_groups(runs: RunsLike) -> list[RunGroup]:
    """Seed groups from a glob, a folder, a list of paths, runs or groups."""
    if isinstance(runs, (list, tuple)) and runs and all(isinstance(r, RunGroup) for r in runs):
        return list(runs)
    if isinstance(runs, (list, tuple)) and runs and all(isinstance(r, Run) for r in runs):
        return group_seeds(runs)
    groups = group_seeds(load_runs(runs))  # type: ignore[arg-type]
    if not groups:
        raise FileNotFoundError(f"no runs with records match {runs!r}: train some with `python -m atlib.train` "
                                f"or point at a runs folder such as 'outputs/runs/*'")
    return groups


@dataclass
class ProfileSet:
    """Run groups evaluated on the same images, with those images and a summary per group.

    Arrays are indexed by record row; ``dataset_index[row]`` is the image's dataset index (see the
    module docstring). ``images`` is None only when loaded with ``require_images=False`` and the
    runs' data could not be found; ``images_error`` then says why.
    """

    groups: list[RunGroup]
    summaries: list[GroupSummary]
    split: str
    labels: np.ndarray  # (N,) true classes
    images: np.ndarray | None  # (N, H, W, 3) uint8
    dataset_index: np.ndarray  # (N,)
    class_names: list[str]
    threshold: float | None  # None: each group's metrics.default_threshold (see summaries[k].categories.threshold)
    images_error: str = ""
    _probs: list[list[np.ndarray]] = field(init=False, repr=False)  # per group, each seed's (T, N, C) memmap

    def __post_init__(self) -> None:
        self._probs = [[run.probs(self.split)[: g.num_points] for run in g.runs] for g in self.groups]

    @classmethod
    def load(cls, runs: RunsLike, split: str = "test", threshold: float | None = None, images: np.ndarray | None = None,
             require_images: bool = True) -> "ProfileSet":
        """Summarize every group of ``runs``. ``threshold`` None is each group's ``metrics.default_threshold``;
        ``images`` to the ones the runs evaluated, read from their data (without them, an error, or
        with ``require_images=False`` a set without images)."""
        groups = resolve_groups(runs)
        missing = [g.label for g in groups if not g.has(split)]
        if missing:
            raise KeyError(f"no {split!r} records for {missing}; use split='test' (or 'neg' for CIFAR-10 runs with NEG data, "
                           f"'probe' for runs with a training probe)")
        labels = groups[0].labels(split)
        index = analysis.split_rows(groups[0], split)
        for g in groups[1:]:
            other = analysis.split_rows(g, split)
            if not (np.array_equal(g.labels(split), labels) and np.array_equal(other, index)):
                raise ValueError(f"{g.label} was evaluated on other {split!r} images than {groups[0].label}; "
                                 f"compare groups of one dataset with the same test subset")
        n_classes = groups[0].runs[0].probs(split).shape[-1]
        error = ""
        if images is None:
            try:
                images = analysis.eval_images(groups[0], split)
            except (FileNotFoundError, ValueError) as err:
                if require_images:
                    raise type(err)(f"{err}\nThe explorer shows the images the runs evaluated: make their data findable "
                                    f"(the runs' data_root, $ATLIB_DATA or ./data) or pass images=...") from err
                error = str(err)
        if images is not None:
            images = np.asarray(images)
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
                raise ValueError(f"images must be uint8 (N, H, W, 3) with N={len(labels)} (one per recorded {split!r} "
                                 f"example), got {images.dtype} {images.shape}")
        threshold = None if threshold is None else float(threshold)
        return cls(groups=groups, summaries=[summarize_group(g, split, threshold) for g in groups], split=split,
                   labels=labels, images=images, dataset_index=np.asarray(index), images_error=error,
                   class_names=analysis.dataset_class_names(groups[0].config.dataset, n_classes), threshold=threshold)

    # -- names

    @property
    def group_labels(self) -> list[str]:
        return [g.label for g in self.groups]

    @property
    def image_size(self) -> int:
        """Side of the dataset's images in pixels (``atlib.datasets``), which the views scale up."""
        return dataset_info(self.groups[0].config.dataset).image_size

    @property
    def index_name(self) -> str:
        """What the dataset index counts: "CIFAR-10 test index", "CIFAR-10 train index" (the probe) or "CIFAR-10-NEG index"."""
        dataset = dataset_title(self.groups[0].config.dataset)
        named = {"test": f"{dataset} test index", "probe": f"{dataset} train index"}
        return named.get(self.split, f"{dataset}-{self.split.upper()} index")

    def image_name(self, row: int) -> str:
        """Both numbers of the image at record row ``row``: "CIFAR-10 test index 1234 · record row 7"."""
        return f"{self.index_name} {int(self.dataset_index[row])} · record row {int(row)}"

    def caption(self, row: int) -> str:
        return f"{self.image_name(row)} · true class: {self.class_names[int(self.labels[row])]}"

    def group_index(self, group: int | str) -> int:
        """A group's position from its position or its label (e.g. ``"AT ε=8/255"``)."""
        if isinstance(group, str):
            if group not in self.group_labels:
                raise ValueError(f"no run group labelled {group!r}; groups: {self.group_labels}")
            return self.group_labels.index(group)
        if not 0 <= group < len(self.groups):
            raise ValueError(f"a group must be a position in [0, {len(self.groups)}) or a label from {self.group_labels}")
        return int(group)

    # -- choosing images

    def filtered_rows(self, reference: int | str = 0, category: str = ALL, true_class: int | None = None,
                      outcome: str = ALL, sort: str = SORTS[0]) -> np.ndarray:
        """Record rows of the images passing the filters, sorted (ties by record row).

        ``category`` and ``outcome`` (right/wrong: the argmax of the seed-averaged final
        probabilities against the true class) are judged under the ``reference`` group, which also
        supplies the sort keys: total confidence drop and final entropy, both descending.
        """
        s = self.summaries[self.group_index(reference)]
        if category != ALL and category not in metrics.CATEGORIES:
            raise ValueError(f"category must be {ALL!r} or one of {metrics.CATEGORIES}, got {category!r}")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
        keep = np.ones(len(self.labels), dtype=bool)
        if category != ALL:
            keep &= s.categories.categories == metrics.CATEGORIES.index(category)
        if true_class is not None:
            keep &= self.labels == true_class
        if outcome != ALL:
            right = s.final_prediction == self.labels
            keep &= right if outcome == "right" else ~right
        chosen = np.flatnonzero(keep)
        key = {SORTS[0]: -s.categories.total_drop, SORTS[1]: -s.final_entropy, SORTS[2]: self.dataset_index}[sort]
        return chosen[np.argsort(key[chosen], kind="stable")]

    def rows_of(self, dataset_indices: Sequence[int]) -> np.ndarray:
        """Record rows of images given by their dataset index; every one must have been evaluated."""
        wanted = np.asarray(dataset_indices, dtype=np.int64)
        order = np.argsort(self.dataset_index, kind="stable")
        found = np.searchsorted(self.dataset_index[order], wanted).clip(0, len(order) - 1)
        ok = self.dataset_index[order][found] == wanted
        if not ok.all():
            raise ValueError(f"{self.index_name} {wanted[~ok].tolist()[:10]} not evaluated by these runs "
                             f"({len(self.labels)} {self.split!r} images recorded)")
        return order[found]

    # -- one image

    def image(self, row: int) -> np.ndarray:
        if self.images is None:
            raise FileNotFoundError(f"this ProfileSet has no images: {self.images_error}")
        return self.images[row]

    def profile(self, group: int, row: int) -> pd.DataFrame:
        """Fig 6 data of one image under a group (:func:`atlib.analysis.learning_profile`)."""
        return analysis.learning_profile(self.groups[group], int(row), self.split, self.class_names, top_k=PROFILE_TOP_K)

    def entropy_curve(self, group: int, row: int) -> np.ndarray:
        """(T,) entropy of each seed's prediction on one image over training, averaged over seeds."""
        return np.mean([metrics.entropy(probs[:, int(row)]) for probs in self._probs[group]], axis=0)

    def category_frame(self, row: int) -> pd.DataFrame:
        """One line per group: the image's category, total drop and final prediction under that group, and
        whether it stays robust under AutoAttack, a column only when some run of these groups was evaluated with it."""
        y = int(self.labels[row])
        with_autoattack = any(s.autoattack is not None for s in self.summaries)
        lines = []
        for s in self.summaries:
            predicted = int(s.final_prediction[row])
            lines.append({
                "group": s.group.label,
                "category": metrics.CATEGORIES[s.categories.categories[row]],
                "total drop": float(s.categories.total_drop[row]),
                "final P(true)": float(s.final_probs[row, y]),
                "predicted": self.class_names[predicted],
                "correct": predicted == y,
                "final entropy": float(s.final_entropy[row]),
                **({"robust under AutoAttack": _robust_text(s.autoattack, row)} if with_autoattack else {}),
            })
        return pd.DataFrame(lines)

    # -- chart data

    def chart_rows(self, rows: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
        """The datasets :func:`atlib.plots.profiles.learning_profile_view` and the explorer's entropy chart read,
        for the images at record rows ``rows`` (``pick`` k is ``rows[k]``): ``profile``, one row per
        (image, group) with its ``entropy`` over training added, and ``profile_groups``; for the training
        probe also ``history`` (:meth:`history_rows`)."""
        profile = []
        for g in range(len(self.groups)):
            for pick, row in enumerate(rows):
                image, _ = profiles.learning_profile_rows(self.profile(g, row))
                profile.append({"pick": pick, "group": g, **image,
                                "entropy": np.round(self.entropy_curve(g, row), 3).tolist()})
        history = {HISTORY_DATA: self.history_rows(rows)} if self.split == "probe" else {}
        return {profiles.PROFILE_DATA: profile, profiles.PROFILE_GROUPS: self._group_rows, **history}

    def history(self, group: int, row: int) -> pd.DataFrame:
        """A probe image's presentation history under a group: its training ``loss`` and ``margin`` at each
        epoch, mean over seeds (:func:`atlib.dynamics.frames.presentation_history`); empty without dynamics."""
        g = self.groups[group]
        if self.split != "probe" or any(r.dynamics is None for r in g.runs):
            return pd.DataFrame(columns=["epoch", "field", "value", "seeds"])
        return presentation_history(g, int(g.runs[0].probe_index()[row]))

    def history_rows(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        """One row per (image, group, field): ``pick``, ``group``, ``field`` and the ``epoch`` and ``value``
        arrays (null where no seed presented the image in that epoch)."""
        out = []
        for g in range(len(self.groups)):
            for pick, row in enumerate(rows):
                for name, part in self.history(g, row).groupby("field", sort=False):
                    values = [None if np.isnan(v) else round(float(v), 4) for v in part["value"]]
                    out.append({"pick": pick, "group": g, "field": name, "epoch": part["epoch"].tolist(), "value": values})
        return out

    @cached_property
    def _group_rows(self) -> list[dict[str, Any]]:
        """Per group: its label, epochs and global accuracy per record point (the same for every image)."""
        return [{"group": g, "label": label, **profiles.learning_profile_rows(self.profile(g, 0))[1]}
                for g, label in enumerate(self.group_labels)]

    @property
    def shows_other(self) -> bool:
        """Whether profiles sum the classes past ``PROFILE_TOP_K`` into "other" (CIFAR-100)."""
        return len(self.class_names) > PROFILE_TOP_K


def _robust_text(autoattack: tuple[str, np.ndarray] | None, row: int) -> str:
    """E.g. "yes, 2 of 2 seeds (ε=8/255)", "no, 0 of 1 seed (ε=8/255)", or "not evaluated"."""
    if autoattack is None or np.isnan(autoattack[1][:, row]).all():
        return "not evaluated"
    budget, flags = autoattack
    seen = flags[:, row][~np.isnan(flags[:, row])]
    robust = int(seen.sum())
    verdict = "yes" if robust == len(seen) else "no" if robust == 0 else "partly"
    return f"{verdict}, {robust} of {len(seen)} seed{'s' if len(seen) > 1 else ''} (ε={budget}/255)"
