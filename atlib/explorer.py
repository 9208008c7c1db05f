"""The learning-profile explorer: step through test images and compare how each run group learned them.

The paper argues through single images (Appendix A, Fig 6): easy, hard, monotone and non-monotone
points, and how NT and AT treat the same image. :class:`ProfileExplorer` is a notebook widget that
filters the images (category under a chosen reference group, class, right or wrong at the end),
sorts them (non-monotonicity, final entropy, index) and shows, for the picked image, the image
itself, its Fig 6 learning profile under every group side by side, its entropy over training and
its category under every group. :func:`export_html` writes the same comparison for a chosen subset
of images as one self-contained HTML file driven by a Vega slider (no kernel, no network);
``python -m atlib.explorer RUNS_GLOB --out report.html`` is its command line.

Speed by design: everything filters and sorts need about all N images (categories, total drop,
final prediction and entropy) is computed once, one seed at a time; moving the slider reads one
image's rows from each run's memory-mapped records. Altair needs 0.1-1 s to build and compile one
chart, far over an update's budget, so every chart spec is compiled once per layout and an update
only swaps its data rows (see :class:`_ProfileSpecs`).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlib import analysis, metrics
from atlib.io import atomic_path
from atlib.runs import Run, RunGroup, group_seeds, load_runs

ALL = "all"
SORTS = ("non-monotonicity", "entropy", "index")
OUTCOMES = (ALL, "right", "wrong")
PROFILE_TOP_K = 10  # classes shown in a profile (true class + 9 likeliest, rest summed): CIFAR-100 stays readable
IMAGE_SCALE = 5  # nearest-neighbour upscaling: a 32x32 image shows as 160x160 sharp pixels
TABLE_STYLE = "<style>.atlib-categories th, .atlib-categories td {padding: 3px 12px; text-align: left}</style>"
VEGA_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
RunsLike = str | Path | Sequence[str | Path] | Sequence[Run] | Sequence[RunGroup]


# ----------------------------------------------------------------------------- data: per-group summaries


@dataclass(frozen=True)
class GroupSummary:
    """What filters, sorts and the category table need about every image, for one run group."""

    group: RunGroup
    categories: metrics.CategoryResult  # from the seed-averaged profiles, as analysis.category_table
    final_probs: np.ndarray  # (N, C) float32: seed-averaged probabilities at the last record point
    final_entropy: np.ndarray  # (N,): entropy of each seed's final prediction, averaged over seeds

    @property
    def final_prediction(self) -> np.ndarray:
        return self.final_probs.argmax(axis=1)


def summarize_group(group: RunGroup, split: str, threshold: float) -> GroupSummary:
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
    )


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


def png_bytes(image: np.ndarray, scale: int = IMAGE_SCALE) -> bytes:
    """A PNG of ``image`` upscaled by nearest neighbour, so its pixels stay sharp at any zoom."""
    from PIL import Image  # local: only image display needs Pillow

    h, w = image.shape[:2]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).resize((w * scale, h * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_url(image: np.ndarray, scale: int = IMAGE_SCALE) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, scale)).decode("ascii")


@dataclass
class ProfileSet:
    """Run groups evaluated on the same images, with those images and a summary per group.

    Positions (``pos``) are rows of the evaluated set, as in the records; ``dataset_index[pos]`` is
    the image's row in the full dataset split (what a user quotes).
    """

    groups: list[RunGroup]
    summaries: list[GroupSummary]
    split: str
    labels: np.ndarray  # (N,) true classes
    images: np.ndarray  # (N, H, W, 3) uint8
    dataset_index: np.ndarray  # (N,)
    class_names: list[str]
    threshold: float
    _probs: list[list[np.ndarray]] = field(init=False, repr=False)  # per group, each seed's (T, N, C) memmap

    def __post_init__(self) -> None:
        self._probs = [[run.probs(self.split)[: g.num_points] for run in g.runs] for g in self.groups]

    @classmethod
    def load(cls, runs: RunsLike, split: str = "test", threshold: float = metrics.DEFAULT_THRESHOLD,
             images: np.ndarray | None = None) -> "ProfileSet":
        """Summarize every group of ``runs``; ``images`` default to the ones the runs evaluated (from their data)."""
        groups = resolve_groups(runs)
        missing = [g.label for g in groups if not g.has(split)]
        if missing:
            raise KeyError(f"no {split!r} records for {missing}; use split='test' (or 'neg' for CIFAR-10 runs with NEG data)")
        labels = groups[0].labels(split)
        index = groups[0].runs[0].test_index() if split == "test" else np.arange(len(labels))
        for g in groups[1:]:
            other = g.runs[0].test_index() if split == "test" else np.arange(len(g.labels(split)))
            if not (np.array_equal(g.labels(split), labels) and np.array_equal(other, index)):
                raise ValueError(f"{g.label} was evaluated on other {split!r} images than {groups[0].label}; "
                                 f"compare groups of one dataset with the same test subset")
        n_classes = groups[0].runs[0].probs(split).shape[-1]
        if images is None:
            images = _load_images(groups[0], split)
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
            raise ValueError(f"images must be uint8 (N, H, W, 3) with N={len(labels)} (one per recorded {split!r} example), "
                             f"got {images.dtype} {images.shape}")
        return cls(groups=groups, summaries=[summarize_group(g, split, threshold) for g in groups], split=split,
                   labels=labels, images=images, dataset_index=np.asarray(index),
                   class_names=analysis.dataset_class_names(groups[0].config.dataset, n_classes), threshold=float(threshold))

    @property
    def labels_text(self) -> list[str]:
        return [g.label for g in self.groups]

    def reference_index(self, reference: int | str) -> int:
        """A group position from its position or its label (e.g. ``"AT ε=8/255"``)."""
        if isinstance(reference, str):
            if reference not in self.labels_text:
                raise ValueError(f"no run group labelled {reference!r}; groups: {self.labels_text}")
            return self.labels_text.index(reference)
        if not 0 <= reference < len(self.groups):
            raise ValueError(f"reference must be a group position in [0, {len(self.groups)}) or a label from {self.labels_text}")
        return int(reference)

    def positions(self, reference: int | str = 0, category: str = ALL, label: int | None = None, outcome: str = ALL,
                  sort: str = SORTS[0]) -> np.ndarray:
        """Positions of the images passing the filters, sorted (ties by position).

        ``category`` and ``outcome`` (right/wrong: the argmax of the seed-averaged final
        probabilities against the true class) are judged under the ``reference`` group, which also
        supplies the sort keys: total confidence drop and final entropy, both descending.
        """
        s = self.summaries[self.reference_index(reference)]
        if category != ALL and category not in metrics.CATEGORIES:
            raise ValueError(f"category must be {ALL!r} or one of {metrics.CATEGORIES}, got {category!r}")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
        keep = np.ones(len(self.labels), dtype=bool)
        if category != ALL:
            keep &= s.categories.categories == metrics.CATEGORIES.index(category)
        if label is not None:
            keep &= self.labels == label
        if outcome != ALL:
            right = s.final_prediction == self.labels
            keep &= right if outcome == "right" else ~right
        chosen = np.flatnonzero(keep)
        key = {"non-monotonicity": -s.categories.total_drop, "entropy": -s.final_entropy, "index": self.dataset_index}[sort]
        return chosen[np.argsort(key[chosen], kind="stable")]

    def positions_of(self, dataset_indices: Sequence[int]) -> np.ndarray:
        """Positions of images given by their dataset index; every one must have been evaluated."""
        wanted = np.asarray(dataset_indices, dtype=np.int64)
        order = np.argsort(self.dataset_index, kind="stable")
        found = np.searchsorted(self.dataset_index[order], wanted).clip(0, len(order) - 1)
        ok = self.dataset_index[order][found] == wanted
        if not ok.all():
            raise ValueError(f"dataset indices {wanted[~ok].tolist()[:10]} were not evaluated by these runs "
                             f"({len(self.labels)} {self.split!r} images recorded)")
        return order[found]

    def profile(self, g: int, pos: int) -> pd.DataFrame:
        """Fig 6 data of one image under group ``g`` (:func:`atlib.analysis.learning_profile`)."""
        return analysis.learning_profile(self.groups[g], int(pos), self.split, self.class_names, top_k=PROFILE_TOP_K)

    def entropy_curve(self, g: int, pos: int) -> np.ndarray:
        """(T,) entropy of each seed's prediction on one image over training, averaged over seeds."""
        return np.mean([metrics.entropy(probs[:, int(pos)]) for probs in self._probs[g]], axis=0)

    def category_frame(self, pos: int) -> pd.DataFrame:
        """One row per group: the image's category, total drop and final prediction under that group."""
        y = int(self.labels[pos])
        rows = []
        for s in self.summaries:
            predicted = int(s.final_prediction[pos])
            rows.append({
                "group": s.group.label,
                "category": metrics.CATEGORIES[s.categories.categories[pos]],
                "total drop": float(s.categories.total_drop[pos]),
                "final P(true)": float(s.final_probs[pos, y]),
                "predicted": self.class_names[predicted],
                "correct": predicted == y,
                "final entropy": float(s.final_entropy[pos]),
            })
        return pd.DataFrame(rows)

    def caption(self, pos: int) -> str:
        kind = "test image" if self.split == "test" else f"{self.split} image"
        return f"{kind} #{int(self.dataset_index[pos])} · true class: {self.class_names[int(self.labels[pos])]}"


def _load_images(group: RunGroup, split: str) -> np.ndarray:
    try:
        return analysis.eval_images(group, split)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error}\nThe explorer shows the images the runs evaluated: make their data findable "
                                f"(the runs' data_root, $ATLIB_DATA or ./data) or pass images=...") from error


# ----------------------------------------------------------------------------- chart specs compiled once, data swapped


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as records of Python scalars (NaN as None: JSON null), the form chart specs carry inline.

    Built column-wise: several times faster than a JSON round trip, which matters on every slider move."""
    columns = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype.kind == "f" and np.isnan(values).any():
            values = np.where(np.isnan(values), None, values)
        columns.append(values.tolist())
    keys = [str(k) for k in frame.columns]
    return [dict(zip(keys, row)) for row in zip(*columns)]


def _same(a: Any, b: Any) -> bool:
    """Equal, floats up to the last digits (chart builders write data at 15 significant digits)."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and abs(a - b) <= 1e-12 * max(1.0, abs(b)))


def _rename_data(spec: Any, old: str, new: str) -> Any:
    """``spec`` with every reference to the dataset ``old`` pointing at ``new``."""
    if isinstance(spec, dict):
        if spec.get("data") == {"name": old}:
            spec = {**spec, "data": {"name": new}}
        return {k: _rename_data(v, old, new) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_rename_data(v, old, new) for v in spec]
    return spec


def _compile(chart: Any, nested: bool = True) -> dict[str, Any]:
    """A chart's Vega-Lite spec, built without Altair's per-object validation (the slow part; the
    tests validate these charts). ``nested`` drops ``$schema`` and ``config``, which only the top
    spec of a concat may carry; inline datasets stay under ``"datasets"`` for the caller to take."""
    from altair.utils.schemapi import debug_mode

    with debug_mode(False):
        spec = chart.to_dict(validate=False)
    if nested:
        spec.pop("$schema", None)
        spec.pop("config", None)
    return spec


class _ProfileSpecs:
    """Compiled :func:`atlib.plots.learning_profile_chart` specs, one per (title, class layout), shared process-wide.

    A Fig 6 chart depends on the image only through its data rows and its class layout (which
    classes are shown, which one is true: colours, stacking order and subtitle follow from it),
    so each layout is compiled once; later images of that layout reuse the spec with their rows
    merged into the compiled ones (which keeps the columns the chart builder derives itself). The
    first compilation checks that the builder keeps the frame's rows in order, so a change there
    fails loudly instead of showing wrong data.
    """

    MAX_LAYOUTS = 256  # CIFAR-10: one per (group, true class); CIFAR-100's top-k layouts vary per image
    _cache: dict[tuple, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    @classmethod
    def spec(cls, frame: pd.DataFrame, title: str, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(spec reading the dataset ``name``, that dataset's rows) for one profile frame."""
        per_epoch = int((frame["epoch"] == frame["epoch"].iloc[0]).sum())
        layout = (title, len(frame), tuple(zip(frame["class_name"][:per_epoch], frame["is_true"][:per_epoch])))
        rows = _records(frame)
        if layout not in cls._cache:
            if len(cls._cache) >= cls.MAX_LAYOUTS:
                del cls._cache[next(iter(cls._cache))]  # the oldest
            cls._cache[layout] = cls._compile(frame, title, rows)
        spec, compiled = cls._cache[layout]
        return _rename_data(spec, "profile", name), [{**old, **new} for old, new in zip(compiled, rows)]

    @staticmethod
    def _compile(frame: pd.DataFrame, title: str, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        from atlib import plots

        spec = _compile(plots.learning_profile_chart(frame, title=title))
        datasets = spec.pop("datasets", {})
        if len(datasets) != 1:
            raise RuntimeError(f"plots.learning_profile_chart now carries {len(datasets)} datasets; the explorer expects one")
        (old, compiled), = datasets.items()
        if len(compiled) != len(rows) or not all(_same(c.get(k), v) for c, r in zip(compiled, rows) for k, v in r.items()):
            raise RuntimeError("plots.learning_profile_chart no longer carries the frame's rows in order; "
                               "update atlib.explorer._ProfileSpecs")
        return _rename_data(spec, old, "profile"), compiled


def _entropy_chart(data: ProfileSet, base: Any, epoch: str, entropy: str, group: str) -> Any:
    """Entropy of one image's predictions over training, one line per group (``base`` brings the data)."""
    import altair as alt

    from atlib import plots

    ids = pd.DataFrame([analysis.group_ids(g) for g in data.groups])
    top = float(np.log(len(data.class_names)))  # the entropy of a uniform prediction
    return base.mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X(f"{epoch}:Q", title="Epoch", scale=alt.Scale(nice=False)),
        y=alt.Y(f"{entropy}:Q", title="Entropy of the prediction (nats)", scale=alt.Scale(domain=[0, top])),
        color=alt.Color(f"{group}:N", scale=plots.color_scale(ids), legend=alt.Legend(title="Training")),
        tooltip=[f"{group}:N", f"{epoch}:Q", alt.Tooltip(f"{entropy}:Q", format=".3f")],
    ).properties(width=plots.WIDTH, height=plots.HEIGHT * 0.6, title=alt.TitleParams(
        "Entropy over training", subtitle="mean over seeds of each model's prediction", anchor="start"))


def _entropy_spec(data: ProfileSet) -> dict[str, Any]:
    """The widget's entropy chart, reading the dataset ``entropy`` (group, epoch, entropy)."""
    import altair as alt

    return _compile(_entropy_chart(data, alt.Chart(alt.Data(name="entropy")), "epoch", "entropy", "group"))


# ----------------------------------------------------------------------------- the widget


class ProfileExplorer:
    """Notebook widget: pick a test image by filters, sort order and slider; compare its learning under every group.

    Everything a test or a user needs is reachable without a browser: set the control widgets'
    values (``reference``, ``category``, ``label``, ``outcome``, ``sort``, ``slider``) and read
    ``order``, ``current``, ``dataset_index``, ``profiles``, ``entropy``, ``categories`` and ``spec``.
    """

    def __init__(self, data: ProfileSet, reference: int | str = 0) -> None:
        import ipywidgets as w

        self.data = data
        self._entropy_spec = _entropy_spec(data)
        self._chart_widget: Any = None
        self._widget: Any = None
        self._muted = False
        self.order = np.zeros(0, dtype=np.int64)
        self.current: int | None = None
        self.profiles: dict[str, pd.DataFrame] = {}
        self.entropy = pd.DataFrame()
        self.categories = pd.DataFrame()
        self.spec: dict[str, Any] | None = None
        self.last_update_s = 0.0

        wide = {"description_width": "initial"}
        self.reference = w.Dropdown(options=[(lbl, i) for i, lbl in enumerate(data.labels_text)],
                                    value=data.reference_index(reference), description="categories under", style=wide)
        self.category = w.Dropdown(options=[ALL, *metrics.CATEGORIES], value=ALL, description="category", style=wide)
        self.label = w.Dropdown(options=[(ALL, -1), *[(n, i) for i, n in enumerate(data.class_names)]], value=-1,
                                description="class", style=wide)
        self.outcome = w.Dropdown(options=list(OUTCOMES), value=ALL, description="final prediction", style=wide)
        self.sort = w.Dropdown(options=list(SORTS), value=SORTS[0], description="sort by", style=wide)
        self.slider = w.IntSlider(value=0, min=0, max=0, description="image", continuous_update=False, readout=False,
                                  layout=w.Layout(width="60%"))
        self.status = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width=f"{32 * IMAGE_SCALE}px", height=f"{32 * IMAGE_SCALE}px"))
        self.table = w.HTML()
        for control in (self.reference, self.category, self.label, self.outcome, self.sort):
            control.observe(self._on_filter, names="value")
        self.slider.observe(self._on_slide, names="value")
        self._controls = w.VBox([w.HBox([self.reference, self.category, self.label, self.outcome, self.sort],
                                        layout=w.Layout(flex_flow="row wrap")),
                                 w.HBox([self.slider, self.status]), w.HBox([self.image, self.table])])
        self._precompile()
        self._on_filter()

    def _precompile(self) -> None:
        """Compile every group's chart for every true class now, so that no slider move waits for Altair.

        Only where the layout is fixed by the true class (all classes shown: CIFAR-10); CIFAR-100's
        profiles show each image's likeliest classes, so there the first view of a layout compiles it.
        """
        data = self.data
        if len(data.class_names) > PROFILE_TOP_K:
            return
        for c in np.unique(data.labels):
            pos = int(np.flatnonzero(data.labels == c)[0])
            for g, lbl in enumerate(data.labels_text):
                _ProfileSpecs.spec(data.profile(g, pos), lbl, "")

    @classmethod
    def from_runs(cls, runs: RunsLike, split: str = "test", threshold: float = metrics.DEFAULT_THRESHOLD,
                  reference: int | str = 0, images: np.ndarray | None = None) -> "ProfileExplorer":
        """The explorer over ``runs`` (glob, folder, list of runs or groups), seeds grouped."""
        return cls(ProfileSet.load(runs, split, threshold, images), reference)

    # -- display

    @property
    def chart(self) -> Any:
        """The ``alt.JupyterChart`` showing the profiles (created on first use: offline JS bundling takes seconds)."""
        if self._chart_widget is None:
            import altair as alt

            alt.JupyterChart.enable_offline()  # JavaScript from vl-convert, not a CDN: works air-gapped
            self._chart_widget = alt.JupyterChart(None, embed_options={"renderer": "svg", "actions": False})
            self._chart_widget.spec = self.spec
        return self._chart_widget

    @property
    def widget(self) -> Any:
        """The whole explorer: controls, image, category table and the chart."""
        if self._widget is None:
            import ipywidgets as w

            self._widget = w.VBox([self._controls, self.chart])
        return self._widget

    def show(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- state

    @property
    def dataset_index(self) -> int | None:
        return None if self.current is None else int(self.data.dataset_index[self.current])

    def select(self, position: int) -> float:
        """Show the ``position``-th image of the filtered list, as moving the slider does; returns the update's seconds."""
        if not 0 <= position < len(self.order):
            raise ValueError(f"position must be in [0, {len(self.order)}): {len(self.order)} images pass the filters")
        if self.slider.value == position:
            self._show()
        else:
            self.slider.value = position
        return self.last_update_s

    def _on_filter(self, _: Any = None) -> None:
        label = None if self.label.value < 0 else self.label.value
        self.order = self.data.positions(self.reference.value, self.category.value, label, self.outcome.value, self.sort.value)
        self._muted = True  # one render below, not one per slider trait change
        try:
            self.slider.value = 0
            self.slider.max = max(len(self.order) - 1, 0)
            self.slider.disabled = len(self.order) == 0
        finally:
            self._muted = False
        self._show()

    def _on_slide(self, _: Any) -> None:
        if not self._muted:
            self._show()

    def _show(self) -> None:
        start = time.perf_counter()
        if len(self.order) == 0:
            self.current, self.profiles, self.spec = None, {}, None
            self.entropy, self.categories = pd.DataFrame(), pd.DataFrame()
            self.status.value = "<b>no image passes these filters</b>"
            self.table.value, self.image.value = "", b""
        else:
            self._render(int(self.order[self.slider.value]))
        if self._chart_widget is not None:
            self._chart_widget.spec = self.spec
        self.last_update_s = time.perf_counter() - start

    def _render(self, pos: int) -> None:
        data = self.data
        self.current = pos
        self.profiles = {lbl: data.profile(g, pos) for g, lbl in enumerate(data.labels_text)}
        self.entropy = pd.concat([pd.DataFrame({"group": lbl, "epoch": g.epochs, "entropy": data.entropy_curve(i, pos)})
                                  for i, (g, lbl) in enumerate(zip(data.groups, data.labels_text))], ignore_index=True)
        self.categories = data.category_frame(pos)
        caption = data.caption(pos)
        self.status.value = f"{self.slider.value + 1} of {len(self.order)} images · <b>{caption}</b>"
        self.table.value = TABLE_STYLE + self.categories.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0,
                                                                 classes="atlib-categories")
        self.image.value = png_bytes(data.images[pos])
        parts, datasets = [], {"entropy": _records(self.entropy)}
        for g, (lbl, frame) in enumerate(self.profiles.items()):
            spec, rows = _ProfileSpecs.spec(frame, lbl, f"profile_{g}")
            parts.append(spec)
            datasets[f"profile_{g}"] = rows
        self.spec = {
            "$schema": VEGA_SCHEMA,
            "title": {"text": caption, "anchor": "start", "fontSize": 16},
            "vconcat": [{"hconcat": parts}, self._entropy_spec],
            "resolve": {"scale": {"color": "independent"}, "legend": {"color": "independent"}},
            "datasets": datasets,
        }


# ----------------------------------------------------------------------------- static HTML export


def default_selection(data: ProfileSet, reference: int = 0, max_images: int = 240, per_category: int = 10) -> np.ndarray:
    """Examples of every category under ``reference`` plus the most non-monotone images, up to ``max_images``,
    ordered by non-monotonicity (most first)."""
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    group = data.groups[reference]
    examples = analysis.category_examples(group, per_category, data.threshold)["index"].to_numpy()[:max_images]
    ranked = data.positions(reference, sort="non-monotonicity")
    rest = ranked[~np.isin(ranked, examples)][: max_images - len(examples)]
    chosen = np.concatenate([examples, rest])
    return chosen[np.argsort(-data.summaries[reference].categories.total_drop[chosen], kind="stable")]


def export_rows(data: ProfileSet, positions: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """The export's datasets, compact: one ``profile`` row per (image, group) holding arrays over record points.

    ``profile`` rows: ``k`` (slider position), ``g`` (group), ``y`` (true class), ``c`` (classes
    shown, -1 for the summed rest), ``e`` (epochs), ``a`` (group accuracy), ``h`` (entropy, nats)
    and ``p`` (per record point, the per-mille probability of each class in ``c``), taken from
    :meth:`ProfileSet.profile`, the same frames the widget draws; ``images`` rows: ``k``, ``url``
    (PNG data URL), ``caption``; ``table`` rows: one line per (image, group).
    """
    profile, table = [], []
    for g, (group, s) in enumerate(zip(data.groups, data.summaries)):
        t = group.num_points
        for k, pos in enumerate(positions):
            frame = data.profile(g, pos)
            shown = len(frame) // t
            y, predicted = int(data.labels[pos]), int(s.final_prediction[pos])
            profile.append({
                "k": k, "g": g, "y": y, "c": frame["class_index"][:shown].tolist(),
                "e": np.round(frame["epoch"][::shown], 4).tolist(), "a": np.round(frame["global_acc"][::shown], 4).tolist(),
                "h": np.round(data.entropy_curve(g, pos), 3).tolist(),
                "p": np.rint(frame["probability"].to_numpy().reshape(t, shown) * 1000).astype(np.int64).tolist(),
            })
            category = metrics.CATEGORIES[s.categories.categories[pos]]
            table.append({"k": k, "g": g, "category": category,
                          "text": f"{group.label}: {category} · total drop {s.categories.total_drop[pos]:.2f} · final: "
                                  f"{data.class_names[predicted]} ({'right' if predicted == y else 'wrong'})"})
    images = [{"k": k, "url": png_data_url(data.images[pos], 4),
               "caption": f"{data.caption(pos)} · {k + 1} of {len(positions)}"} for k, pos in enumerate(positions)]
    return {"profile": profile, "images": images, "table": table}


def export_chart(data: ProfileSet, positions: np.ndarray) -> Any:
    """The explorer as one Vega-Lite chart over the named datasets of :func:`export_rows`: a slider
    param picks the image, and every view filters its rows to that image.

    The Fig 6 panels unfold compact rows in the browser (arrays over record points, then over
    classes) because one row per (image, point, class) would make the file ten times larger.
    """
    import altair as alt

    from atlib import plots

    classes = data.class_names + (["other"] if len(data.class_names) > PROFILE_TOP_K else [])
    pick = alt.param(name="image", value=0, bind=alt.binding_range(min=0, max=len(positions) - 1, step=1, name="image "))
    here = alt.datum.k == pick
    x = alt.X("e:Q", title="Epoch", scale=alt.Scale(nice=False))
    panels = []
    for g, group in enumerate(data.groups):
        base = alt.Chart(alt.Data(name="profile")).transform_filter(here & (alt.datum.g == g)).transform_flatten(
            ["e", "a", "h", "p"]).transform_flatten(["p", "c"]).transform_calculate(
            probability="datum.p / 1000", class_name=f"datum.c < 0 ? 'other' : {json.dumps(data.class_names)}[datum.c]",
            is_true="datum.c == datum.y", stack_order="datum.c == datum.y ? -1 : datum.c")
        scheme = "tableau10" if len(classes) <= 10 else "tableau20"
        area = base.mark_area(opacity=0.85).encode(
            x=x, y=alt.Y("probability:Q", stack="zero", title="Probability", axis=alt.Axis(format=".0%"),
                         scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("class_name:N", scale=alt.Scale(domain=classes, scheme=scheme),
                            legend=alt.Legend(title="Class", symbolType="square") if len(classes) <= 20 else None),
            order=alt.Order("stack_order:Q"),
            tooltip=["e:Q", "class_name:N", alt.Tooltip("probability:Q", format=".3f"), alt.Tooltip("a:Q", format=".3f")])
        true_class = base.transform_filter("datum.is_true")
        true_line = true_class.mark_line(color="black", strokeWidth=2.5).encode(x=x, y="probability:Q")
        acc_line = true_class.mark_line(color="#222", strokeDash=[6, 3], strokeWidth=2).encode(x=x, y="a:Q")
        title = alt.TitleParams(group.label, subtitle="solid black: true class;  dashed: global test accuracy", anchor="start")
        panels.append(alt.layer(area, true_line, acc_line).properties(width=plots.WIDTH, height=plots.HEIGHT, title=title))
    entropy = _entropy_chart(data, alt.Chart(alt.Data(name="profile")).transform_filter(here).transform_flatten(
        ["e", "h"]).transform_calculate(group=f"{json.dumps(data.labels_text)}[datum.g]"), "e", "h", "group")
    side = 32 * 4
    image = alt.Chart(alt.Data(name="images")).transform_filter(here).mark_image(
        width=side, height=side, align="left", baseline="top").encode(x=alt.value(0), y=alt.value(0), url="url:N").properties(
        width=side, height=side)
    caption = alt.Chart(alt.Data(name="images")).transform_filter(here).mark_text(
        align="left", baseline="top", fontSize=16, fontWeight="bold").encode(
        x=alt.value(0), y=alt.value(0), text="caption:N").properties(width=600, height=24)
    category_color = alt.Scale(domain=list(metrics.CATEGORIES), range=[plots.CATEGORY_COLORS[c] for c in metrics.CATEGORIES])
    table = alt.Chart(alt.Data(name="table")).transform_filter(here).mark_text(align="left", fontSize=13).encode(
        x=alt.value(0), y=alt.Y("g:O", axis=None), text="text:N",
        color=alt.Color("category:N", scale=category_color, legend=None),
    ).properties(width=600, height=22 * len(data.groups), title=alt.TitleParams("Category under each group", anchor="start"))
    return alt.vconcat(caption, alt.hconcat(image, table), alt.hconcat(*panels), entropy).add_params(pick).resolve_scale(
        color="independent").configure_view(stroke=None).properties(
        title=alt.TitleParams(f"Learning profiles of {len(positions)} images ({data.split}); the slider at the bottom picks one",
                              anchor="start", fontSize=14))


def export_html(runs: RunsLike | ProfileSet, path: str | Path, indices: Sequence[int] | None = None, max_images: int = 240,
                per_category: int = 10, reference: int | str = 0, split: str = "test",
                threshold: float = metrics.DEFAULT_THRESHOLD, images: np.ndarray | None = None) -> Path:
    """Write the explorer for a subset of images as one self-contained HTML file (no kernel, no network).

    ``indices``: dataset indices to include; by default :func:`default_selection` under ``reference``
    (``per_category`` examples of each category and the most non-monotone images, ``max_images`` in all).
    The Vega JavaScript, the data and the images (PNG data URLs) are all inline; written atomically.
    """
    data = runs if isinstance(runs, ProfileSet) else ProfileSet.load(runs, split, threshold, images)
    ref = data.reference_index(reference)
    positions = data.positions_of(indices) if indices is not None else default_selection(data, ref, max_images, per_category)
    if len(positions) == 0:
        raise ValueError("no images to export: pass indices=... with dataset indices the runs evaluated")
    html = export_page(export_chart(data, positions), export_rows(data, positions))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def export_page(chart: Any, datasets: dict[str, list[dict[str, Any]]]) -> str:
    """A self-contained HTML page (Vega JavaScript inlined by vl-convert, SVG renderer) of ``chart``
    with ``datasets`` inline. The data skip Altair's validation, which would take minutes on them."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    spec = {**_compile(chart, nested=False), "datasets": datasets}
    return vl_convert.vegalite_to_html(spec, vl_version=vl_version_for_vl_convert(), bundle=True, renderer="svg")


# ----------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlib.explorer",
                                     description="Write the learning-profile explorer as a self-contained HTML file.")
    parser.add_argument("runs", help="runs to compare: a glob ('outputs/runs/cifar10_*'), a runs folder or a run folder")
    parser.add_argument("--out", required=True, type=Path, help="HTML file to write")
    parser.add_argument("--split", default="test", choices=("test", "neg"))
    parser.add_argument("--threshold", type=float, default=metrics.DEFAULT_THRESHOLD, help="non-monotonicity threshold")
    parser.add_argument("--reference", default="0", help="group whose categories choose the images: position or label")
    parser.add_argument("--max-images", type=int, default=240)
    parser.add_argument("--per-category", type=int, default=10)
    parser.add_argument("--indices", type=lambda s: [int(v) for v in s.split(",")], default=None,
                        help="comma-separated dataset indices to export instead of the default selection")
    args = parser.parse_args(argv)
    reference: int | str = int(args.reference) if args.reference.isdigit() else args.reference
    try:
        path = export_html(args.runs, args.out, indices=args.indices, max_images=args.max_images,
                           per_category=args.per_category, reference=reference, split=args.split, threshold=args.threshold)
    except (FileNotFoundError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
