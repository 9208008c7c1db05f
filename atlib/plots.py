"""Altair chart builders for the paper's figures, one per figure, fed by :mod:`atlib.analysis` frames.

No analysis happens here, only reshaping for the chart. Conventions shared by every figure:
- settings sort and colour as :mod:`atlib.setting` says: each method its colour family
  (:func:`atlib.setting.ramp`: NT greens, AT reds darkening with ε, AT on synthesized data blues
  darkening with ε, TRADES purples, ...), the same colour for the same kind of run everywhere
  (:func:`label_color`); charts against ε colour each ``series`` (the label without ε: NT / NT +
  synth / AT / AT + synth ...) with the mid tone of its family;
- ε is written ``ε=8/255``; accuracies are fractions shown as percentages;
- data travels inline as plain records (``{"values": [...]}``), so no chart depends on Altair's
  5,000-row limit being lifted by the caller, and charts compose (``alt.hconcat``) because
  styling lives on the axes, legends and titles rather than in top-level ``config``;
- one panel per dataset (CIFAR-10 and CIFAR-100 side by side) when a frame holds both.

One module on purpose, though past 400 lines: each figure's builder is short and sits beside the
styling every figure shares (colours, axes, legends, titles), which a split would scatter.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import altair as alt
import numpy as np
import pandas as pd

from atlib.store.io import atomic_path
from atlib.metrics import CATEGORIES, DEFAULT_THRESHOLD_PER_STEP
from atlib.setting import METHOD_INFO, kind_key, mix, ramp

WIDTH, HEIGHT = 360, 240
LABEL_SIZE, TITLE_SIZE, HEADING_SIZE = 12, 13, 15
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
METRIC_TITLES = {"train_loss": "Train loss", "train_acc": "Train accuracy", "test_acc": "Test accuracy",
                 "neg_acc": "CIFAR-10-NEG accuracy"}
CATEGORY_COLORS = {"easy": "#1b9e77", "hard": "#525252", "monotone": "#377eb8", "non-monotone": "#ff7f00"}
TWIN_LIGHTEN = 0.35  # each further label of one colour (AT and AT + AWP at one ε) is this much lighter
EPS_LABEL_EXPR = "datum.value == 0 ? 'NT' : datum.value + '/255'"
IDS = ("label", "dataset", "method", "epsilon_255", "synthetic")
PROFILE_DATA, PROFILE_GROUPS = "profile", "profile_groups"  # the datasets learning_profile_view reads
PROFILE_LEGEND = "solid black: true class;  dashed: global test accuracy"


# ----------------------------------------------------------------------------- colours and styling


def label_color(method: str, epsilon_255: float, synthetic: bool) -> str:
    """The colour of one kind of run, the same in every figure: its family's (:func:`atlib.setting.ramp`)
    at ε, log-spaced over the stops from 1/255 to 16/255."""
    stops = ramp(method, synthetic)
    if len(stops) == 1:
        return stops[0]
    pos = float(np.clip(math.log2(max(epsilon_255, 1e-9)) / 4.0, 0.0, 1.0)) * (len(stops) - 1)  # log2(16) = 4
    lo = int(min(pos, len(stops) - 2))
    return mix(stops[lo], stops[lo + 1], pos - lo)


def series_color(method: str, synthetic: bool) -> str:
    """The colour of a ``series`` (a setting but its ε) in charts against ε: the mid tone of its family."""
    stops = ramp(method, synthetic)
    return stops[min(1, len(stops) - 1)]


def _kinds(df: pd.DataFrame, by: str = "label") -> pd.DataFrame:
    """One row per value of ``by`` in the settings' order (:func:`atlib.setting.kind_key`: NT first, then
    AT by ε, original data first, then the other methods); ties keep the frame's order, which
    :func:`atlib.store.runs.group_seeds` gave. A ``series`` has no ε: it is ordered by method and data."""
    kinds = df.drop_duplicates(by)
    eps = kinds["epsilon_255"] if by == "label" else [0.0] * len(kinds)
    keys = [kind_key(m, e, s) for m, e, s in zip(kinds["method"], eps, kinds["synthetic"])]
    return kinds.iloc[sorted(range(len(keys)), key=keys.__getitem__)]


def _scale(domain: Sequence[str], colors: Sequence[str]) -> alt.Scale:
    """A colour scale; a colour already taken (variants of one family at one ε, e.g. AT and AT + AWP)
    is lightened by :data:`TWIN_LIGHTEN` per earlier taker, so no two entries look alike."""
    taken: dict[str, int] = {}
    shown = []
    for color in colors:
        twins = taken.get(color, 0)
        taken[color] = twins + 1
        shown.append(mix(color, "#ffffff", min(TWIN_LIGHTEN * twins, 0.8)))
    return alt.Scale(domain=list(domain), range=shown)


def color_scale(df: pd.DataFrame) -> alt.Scale:
    """Colour scale over the frame's ``label`` values, each coloured by :func:`label_color`."""
    kinds = _kinds(df)
    return _scale(kinds["label"], [label_color(m, e, s) for m, e, s in zip(kinds["method"], kinds["epsilon_255"], kinds["synthetic"])])


def series_color_scale(df: pd.DataFrame) -> alt.Scale:
    """Colour scale over the frame's ``series`` values (NT, NT + synth, AT, AT + synth, ...), each by :func:`series_color`."""
    kinds = _kinds(df, "series")
    return _scale(kinds["series"], [series_color(m, s) for m, s in zip(kinds["method"], kinds["synthetic"])])


def _axis(title: str | None, percent: bool = False, **kwargs) -> alt.Axis:
    """Axis with paper-sized fonts; end labels centred on their ticks (flushed ones collide with their neighbours)."""
    options = {"labelFlush": False, **({"format": ".0%"} if percent else {}), **kwargs}
    return alt.Axis(title=title, labelFontSize=LABEL_SIZE, titleFontSize=TITLE_SIZE, **options)


def _eps_axis() -> alt.Axis:
    return _axis("Training ε", labelExpr=EPS_LABEL_EXPR, labelAngle=0)


def _legend(title: str | None, **kwargs) -> alt.Legend:
    return alt.Legend(title=title, labelFontSize=LABEL_SIZE, titleFontSize=TITLE_SIZE, labelLimit=260, symbolOpacity=1, **kwargs)


def _title(text: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    return alt.TitleParams(text=text, subtitle=subtitle or "", fontSize=HEADING_SIZE, subtitleFontSize=LABEL_SIZE, anchor="start")


def _header() -> alt.Header:
    return alt.Header(labelFontSize=TITLE_SIZE, titleFontSize=TITLE_SIZE, title=None)


def _color(df: pd.DataFrame) -> alt.Color:
    return alt.Color("label:N", scale=color_scale(df), legend=_legend("Training"))


def _stroke_legend(title: str) -> alt.Legend:
    """A legend of line samples, for strokeDash encodings."""
    return _legend(title, symbolType="stroke", symbolStrokeWidth=2, symbolStrokeColor="#333")


def _dash(df: pd.DataFrame) -> dict:
    """``strokeDash`` by training data, only when the frame mixes original and synthesized runs."""
    if df["synthetic"].nunique() < 2:
        return {}
    return {"strokeDash": alt.StrokeDash("data:N", legend=_stroke_legend("Training data"))}


def _line_and_points(base: alt.Chart, **line_channels) -> list[alt.Chart]:
    """A line layer and a separate point layer: points drawn by the line mark itself (``point=True``)
    would turn the strokeDash legend's stroke symbols into invisible filled circles."""
    return [base.mark_line(strokeWidth=2).encode(**line_channels), base.mark_point(filled=True, size=50, opacity=1)]


# ----------------------------------------------------------------------------- data and layout


def _data(df: pd.DataFrame) -> dict:
    """The frame as inline JSON records (NaN as null): immune to Altair's row limit and data transformers.

    A plain ``{"values": ...}`` dict rather than ``alt.InlineData``, whose constructor validates every
    record against the schema (seconds for a 12,000-row learning profile).
    """
    return {"values": json.loads(df.to_json(orient="records", double_precision=15))}


def _check(df: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}; build it with atlib.analysis.{source}")
    if df.empty:
        raise ValueError(f"nothing to plot: the {source} frame is empty (see atlib.analysis.describe_missing)")


def _per_dataset(df: pd.DataFrame, build: Callable[[pd.DataFrame, str], alt.TopLevelMixin],
                 vertical: bool = False) -> alt.TopLevelMixin:
    """One panel per dataset, built by ``build(rows, dataset_title)``, side by side (or stacked)."""
    panels = [build(rows, DATASET_TITLES.get(name, name)) for name, rows in df.groupby("dataset", sort=True)]
    if len(panels) == 1:
        return panels[0]
    joined = alt.vconcat(*panels) if vertical else alt.hconcat(*panels)
    return joined.resolve_scale(color="shared", strokeDash="shared")


def _band_and_line(df: pd.DataFrame, y_title: str, percent: bool, title: str, subtitle: str | None = None) -> alt.LayerChart:
    """Seed mean per epoch as a line with a ±1 std band, one colour per run kind."""
    base = alt.Chart().encode(x=alt.X("epoch:Q", axis=_axis("Epoch")), color=_color(df))
    tooltip = ["label:N", "epoch:Q", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]
    band = base.mark_area(opacity=0.18).transform_calculate(lo="datum.mean - datum.std", hi="datum.mean + datum.std").encode(
        y=alt.Y("lo:Q"), y2="hi:Q")
    line = base.mark_line(strokeWidth=2).encode(y=alt.Y("mean:Q", axis=_axis(y_title, percent)), tooltip=tooltip, **_dash(df))
    return alt.layer(band, line, data=_data(df)).properties(width=WIDTH, height=HEIGHT, title=_title(title, subtitle))


# ----------------------------------------------------------------------------- Fig 1: entropy


def entropy_distribution_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 1a: overlaid entropy histograms of the test predictions (from ``analysis.entropy_distribution``)."""
    _check(df, [*IDS, "epoch", "bin_start", "bin_end", "density"], "entropy_distribution")

    def build(rows: pd.DataFrame, name: str) -> alt.Chart:
        epochs = sorted(rows["epoch"].unique())
        at = f"epoch {epochs[0]:g}" if len(epochs) == 1 else f"epochs {', '.join(f'{e:g}' for e in epochs)}"
        return alt.Chart(_data(rows)).mark_rect(opacity=0.45).encode(
            x=alt.X("bin_start:Q", axis=_axis("Entropy of the prediction (nats)"), scale=alt.Scale(nice=False)),
            x2="bin_end:Q",
            y=alt.Y("density:Q", axis=_axis("Density")), y2=alt.datum(0), color=_color(df),
            tooltip=["label:N", alt.Tooltip("bin_start:Q", format=".3f"), alt.Tooltip("density:Q", format=".3f")],
        ).properties(width=WIDTH, height=HEIGHT, title=_title(f"{name}: entropy of test predictions", at))

    return _per_dataset(df, build)


def mean_entropy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 1b: mean test entropy over training, one line per run kind, ±1 std over seeds."""
    _check(df, [*IDS, "epoch", "mean", "std"], "mean_entropy_curves")
    return _per_dataset(df, lambda rows, name: _band_and_line(rows, "Mean entropy (nats)", False,
                                                               f"{name}: mean entropy over training", "band: ±1 std over seeds"))


# ----------------------------------------------------------------------------- Fig 2, 3: point categories


def _category_color(legend: bool = True) -> alt.Color:
    scale = alt.Scale(domain=list(CATEGORIES), range=[CATEGORY_COLORS[c] for c in CATEGORIES])
    return alt.Color("category:N", scale=scale, legend=_legend("Category") if legend else None)


def category_distribution_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 2: share of test points per category (bars), one panel per dataset and run kind."""
    _check(df, [*IDS, "category", "percentage"], "category_table")

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        base = alt.Chart().encode(x=alt.X("category:N", sort=list(CATEGORIES), axis=_axis(None, labelAngle=-30)),
                                  y=alt.Y("percentage:Q", axis=_axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])))
        bars = base.mark_bar().encode(color=_category_color(legend=False), tooltip=["label:N", "category:N", "count:Q",
                                                                                     alt.Tooltip("percentage:Q", format=".1f")])
        text = base.mark_text(dy=-7, fontSize=LABEL_SIZE).encode(text=alt.Text("percentage:Q", format=".1f"))
        labels = list(_kinds(rows)["label"])
        if len(labels) == 1:
            return alt.layer(bars, text, data=_data(rows)).properties(
                width=WIDTH * 0.8, height=HEIGHT, title=_title(f"{name}: point categories", labels[0]))
        return alt.layer(bars, text, data=_data(rows)).properties(width=WIDTH * 0.6, height=HEIGHT).facet(
            column=alt.Column("label:N", sort=labels, header=_header())).properties(title=_title(f"{name}: point categories"))

    return _per_dataset(df, build, vertical=df["label"].nunique() > 1)


def categories_vs_epsilon_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 3: share of each category against the training ε (NT at ε=0), one line per category."""
    _check(df, [*IDS, "category", "percentage"], "category_table")

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        base = alt.Chart().encode(
            x=alt.X("epsilon_255:O", axis=_eps_axis()),
            y=alt.Y("percentage:Q", axis=_axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
            color=_category_color(), tooltip=["label:N", "category:N", alt.Tooltip("percentage:Q", format=".1f")])
        return alt.layer(*_line_and_points(base, **_dash(df)), data=_data(rows)).properties(
            width=WIDTH, height=HEIGHT, title=_title(f"{name}: point categories vs attack strength"))

    return _per_dataset(df, build)


def threshold_sweep_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Category shares against the non-monotonicity threshold; each group's default threshold (column ``default``) marked."""
    _check(df, ["threshold", "category", "percentage", "default"], "threshold_sweep")
    base = alt.Chart().encode(
        x=alt.X("threshold:Q", axis=_axis("Non-monotonicity threshold (total confidence drop)")),
        y=alt.Y("percentage:Q", axis=_axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
        color=_category_color(), tooltip=["category:N", "threshold:Q", alt.Tooltip("percentage:Q", format=".1f")])
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888").encode(
        x="min(default):Q", tooltip=[alt.Tooltip("min(default):Q", title="default threshold", format=".3g")])
    chart = alt.layer(*_line_and_points(base), rule, data=_data(df)).properties(width=WIDTH, height=HEIGHT)
    subtitle = f"dashed: the default threshold, {DEFAULT_THRESHOLD_PER_STEP:g} per step between record points"
    if "label" in df and df["label"].nunique() > 1:
        return chart.facet(column=alt.Column("label:N", sort=list(dict.fromkeys(df["label"])), header=_header())).properties(
            title=_title("Point categories vs threshold", subtitle))
    label = f" ({df['label'].iloc[0]})" if "label" in df else ""
    return chart.properties(title=_title(f"Point categories vs threshold{label}", subtitle))


# ----------------------------------------------------------------------------- Fig 4: CIFAR-10-NEG


def neg_accuracy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 4: CIFAR-10-NEG accuracy over training, mean ± std over seeds, one line per run kind."""
    _check(df, [*IDS, "epoch", "mean", "std"], "neg_accuracy_curves")
    return _band_and_line(df, "CIFAR-10-NEG accuracy", True, "CIFAR-10-NEG accuracy over training", "band: ±1 std over seeds")


# ----------------------------------------------------------------------------- Fig 5, 7, 8: CIFAR-C; robustness


def without_epsilon() -> str:
    """The Vega expression true for the methods without an ε (``attacked=False`` in :data:`atlib.setting.METHOD_INFO`)."""
    return f"indexof({json.dumps([m for m, info in METHOD_INFO.items() if not info.attacked])}, datum.method) >= 0"


def _versus_epsilon_layers(df: pd.DataFrame, y_title: str, data: dict | None = None) -> alt.LayerChart:
    """Methods with an ε (AT, TRADES ...) as lines over ε with ±1 std bars; those without (NT) as dashed
    horizontal references with a std band. One colour per ``series``."""
    color = alt.Color("series:N", scale=series_color_scale(df), legend=_legend("Model"))
    tooltip = ["label:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]
    spread = {"lo": "datum.mean - datum.std", "hi": "datum.mean + datum.std"}
    at = alt.Chart().transform_filter(f"!({without_epsilon()})").encode(
        x=alt.X("epsilon_255:O", axis=_axis("Training ε", labelExpr="datum.value + '/255'", labelAngle=0)), color=color)
    nt = alt.Chart().transform_filter(without_epsilon()).encode(color=color)
    y = alt.Y("mean:Q", axis=_axis(y_title, percent=True), scale=alt.Scale(zero=False))
    return alt.layer(
        nt.mark_rect(opacity=0.12).transform_calculate(**spread).encode(y="lo:Q", y2="hi:Q"),
        nt.mark_rule(strokeDash=[7, 4], strokeWidth=2).encode(y=y, tooltip=tooltip),
        at.mark_rule(strokeWidth=1.5).transform_calculate(**spread).encode(y="lo:Q", y2="hi:Q"),
        *_line_and_points(at.encode(y=y, tooltip=tooltip)),
        data=alt.Undefined if data is None else data,
    )


def cifar_c_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 5: mean CIFAR-C accuracy against the training ε for AT and AT + synth; NT and NT + synth as dashed references."""
    _check(df, [*IDS, "series", "mean", "std"], "cifar_c_summary")
    convention = {"seed_paper": "mean of 19 corruptions", "robustbench": "mean of 15 common corruptions"}
    sub = convention.get(df["convention"].iloc[0], "") if "convention" in df else ""
    subtitle = f"{sub}; NT dashed (band ±1 std)" if sub else "NT dashed (band ±1 std)"

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        return _versus_epsilon_layers(df, "CIFAR-C accuracy", _data(rows)).properties(
            width=WIDTH, height=HEIGHT, title=_title(f"{name}-C accuracy vs ε", subtitle))

    return _per_dataset(df, build)


def cifar_c_corruptions_chart(df: pd.DataFrame, columns: int = 5) -> alt.TopLevelMixin:
    """Fig 7/8: the Fig 5 chart per corruption, one small panel each."""
    _check(df, [*IDS, "series", "corruption", "mean", "std"], "cifar_c_per_corruption")
    df = df.assign(corruption_title=lambda d: d["corruption"].str.replace("_", " ").str.capitalize())

    def build(rows: pd.DataFrame, name: str) -> alt.FacetChart:
        order = list(dict.fromkeys(rows["corruption_title"]))
        return _versus_epsilon_layers(df, "Accuracy").properties(width=WIDTH * 0.45, height=HEIGHT * 0.6).facet(
            data=_data(rows), facet=alt.Facet("corruption_title:N", sort=order, header=_header()), columns=columns,
        ).properties(title=_title(f"{name}-C: accuracy per corruption vs ε", "NT dashed (band ±1 std)"))

    return _per_dataset(df, build, vertical=True)


def robust_accuracy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Robust (PGD, and AutoAttack where evaluated) and clean accuracy against the training ε: the robustness
    side of the trade-off."""
    _check(df, [*IDS, "series", "attack", "eval_epsilon_255", "robust_mean", "robust_std", "clean_mean", "clean_std"], "robust_summary")
    robust = df.assign(measure=[f"{a} ε={e:g}/255" for a, e in zip(df["attack"], df["eval_epsilon_255"])],
                       mean=df["robust_mean"], std=df["robust_std"])
    clean = df.drop_duplicates("label").assign(measure="clean", mean=lambda d: d["clean_mean"], std=lambda d: d["clean_std"])
    long = pd.concat([clean, robust], ignore_index=True)
    measures = list(dict.fromkeys(long["measure"]))
    series = series_color_scale(long)
    color = alt.Color("series:N", scale=series, legend=_legend("Model"))
    base = alt.Chart().encode(  # a narrow band per ε, the series side by side in it, so NT and NT + synth do not hide each other
        x=alt.X("epsilon_255:O", axis=_eps_axis(), scale=alt.Scale(paddingInner=0.8, paddingOuter=0.4)),
        xOffset=alt.XOffset("series:N", scale=alt.Scale(domain=series.domain)), color=color)
    dashes = [[6, 3], [1, 0], [2, 2], [8, 3, 2, 3], [1, 3]]  # clean, then one per attack and budget
    dash = alt.StrokeDash("measure:N", sort=measures, legend=_stroke_legend("Accuracy"),
                          scale=alt.Scale(domain=measures, range=[dashes[i % len(dashes)] for i in range(len(measures))]))

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        return alt.layer(
            base.mark_rule(strokeWidth=1.5).transform_calculate(lo="datum.mean - datum.std", hi="datum.mean + datum.std").encode(
                y="lo:Q", y2="hi:Q", detail="measure:N"),
            *_line_and_points(base.encode(
                y=alt.Y("mean:Q", axis=_axis("Accuracy", percent=True), scale=alt.Scale(domain=[0, 1])),
                tooltip=["label:N", "measure:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]),
                strokeDash=dash),
            data=_data(rows),
        ).properties(width=WIDTH, height=HEIGHT, title=_title(f"{name}: clean and robust accuracy vs ε"))

    return _per_dataset(long, build)


# ----------------------------------------------------------------------------- training curves, learning profiles, images


def training_curves_chart(df: pd.DataFrame) -> alt.FacetChart:
    """Recorded curves (loss, accuracies) over epochs, one panel per metric (and row per dataset)."""
    _check(df, [*IDS, "epoch", "metric", "value"], "training_curves")
    rows = df.assign(metric_title=df["metric"].map(METRIC_TITLES).fillna(df["metric"]))
    if "seed" not in rows:
        rows = rows.assign(seed=np.nan)
    order = [METRIC_TITLES.get(m, m) for m in dict.fromkeys(df["metric"])]
    chart = alt.Chart().mark_line(strokeWidth=1.8).encode(
        x=alt.X("epoch:Q", axis=_axis("Epoch")), y=alt.Y("value:Q", axis=_axis(None), scale=alt.Scale(zero=False)),
        color=_color(df), detail="seed:N", tooltip=["label:N", "seed:N", "metric:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")],
    ).properties(width=WIDTH * 0.6, height=HEIGHT * 0.7)
    facet = {"column": alt.Column("metric_title:N", sort=order, header=_header())}
    if df["dataset"].nunique() > 1:
        facet["row"] = alt.Row("dataset:N", header=_header())
    return chart.facet(data=_data(rows), **facet).resolve_scale(y="independent").properties(title=_title("Training curves"))


def learning_profile_rows(df: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """One image's :func:`atlib.analysis.learning_profile` frame as the compact rows :func:`learning_profile_view` reads.

    Returns (image row, group row). The image row: ``true_class``, ``classes`` (class indices shown,
    -1 for the summed rest) and ``permille`` (per record point, the per-mille probability of each
    class in ``classes``). The group row, what every image of a group shares: ``epoch`` and
    ``accuracy`` (global test accuracy) per record point. Arrays rather than one row per (point,
    class) keep a 240-image export ten times smaller; the chart unfolds them in the browser.
    """
    _check(df, ["epoch", "class_index", "probability", "is_true", "global_acc"], "learning_profile")
    epoch = df["epoch"].to_numpy()
    shown = int((epoch == epoch[0]).sum())
    points = len(df) // shown
    classes = df["class_index"].to_numpy()[:shown]
    true = classes[df["is_true"].to_numpy()[:shown]]
    if points * shown != len(df) or len(true) != 1:
        raise ValueError("the frame must hold the same classes at every record point, the true class among them; "
                         "build it with atlib.analysis.learning_profile")
    permille = np.rint(df["probability"].to_numpy().reshape(points, shown) * 1000).astype(np.int64)
    image = {"true_class": int(true[0]), "classes": classes.tolist(), "permille": permille.tolist()}
    group = {"epoch": np.round(epoch[::shown], 4).tolist(), "accuracy": np.round(df["global_acc"].to_numpy()[::shown], 4).tolist()}
    return image, group


def learning_profile_view(class_names: Sequence[str], title: str, subtitle: str | Sequence[str] = PROFILE_LEGEND,
                          where: str | None = None, data: dict | alt.Data | None = None,
                          groups: dict | alt.Data | None = None, other: bool = False) -> alt.LayerChart:
    """Fig 6, the one spec every learning profile is drawn with (charts here, notebook gallery, explorer, export).

    Reads the image rows of :func:`learning_profile_rows` (plus ``pick`` and ``group`` keys) that
    pass the Vega expression ``where`` from ``data`` (default: the named dataset ``"profile"``),
    joins each with its group row from ``groups`` (default ``"profile_groups"``, keyed by ``group``)
    and draws the stacked class probabilities over training, the true class at the bottom outlined
    in black, the global test accuracy dashed over it. Class colours follow ``class_names`` (plus
    ``"other"`` with ``other``), so a class keeps its colour from image to image.
    """
    names = [*class_names, *(["other"] if other else [])]
    base = alt.Chart(alt.Data(name=PROFILE_DATA) if data is None else data)
    if where is not None:
        base = base.transform_filter(where)
    base = base.transform_lookup(
        lookup="group", from_=alt.LookupData(alt.Data(name=PROFILE_GROUPS) if groups is None else groups, key="group",
                                             fields=["epoch", "accuracy"]),
    ).transform_flatten(["epoch", "accuracy", "permille"]).transform_flatten(["permille", "classes"], as_=["permille", "class_index"]
    ).transform_calculate(
        probability="datum.permille / 1000", is_true="datum.class_index == datum.true_class",
        class_name=f"datum.class_index < 0 ? 'other' : {json.dumps(list(class_names))}[datum.class_index]",
        stack_order="datum.class_index == datum.true_class ? -1 : datum.class_index")
    color = alt.Color("class_name:N", scale=alt.Scale(domain=names, scheme="tableau10" if len(names) <= 10 else "tableau20"),
                      legend=_legend("Class", symbolType="square") if len(names) <= 20 else None)
    x = alt.X("epoch:Q", axis=_axis("Epoch"), scale=alt.Scale(nice=False))
    area = base.mark_area(opacity=0.85).encode(
        x=x, y=alt.Y("probability:Q", stack="zero", axis=_axis("Probability", percent=True), scale=alt.Scale(domain=[0, 1])),
        color=color, order=alt.Order("stack_order:Q"),
        tooltip=["epoch:Q", "class_name:N", alt.Tooltip("probability:Q", format=".3f"),
                 alt.Tooltip("accuracy:Q", format=".3f", title="global accuracy")])
    true_class = base.transform_filter("datum.is_true")
    true_line = true_class.mark_line(color="black", strokeWidth=2.5).encode(x=x, y="probability:Q")
    acc_line = true_class.mark_line(color="#222", strokeDash=[6, 3], strokeWidth=2).encode(x=x, y="accuracy:Q")
    return alt.layer(area, true_line, acc_line).properties(width=WIDTH, height=HEIGHT, title=_title(title, subtitle))


def learning_profile_chart(df: pd.DataFrame, title: str | None = None) -> alt.LayerChart:
    """Fig 6 of one image from its :func:`atlib.analysis.learning_profile` frame (:func:`learning_profile_view`, data inline)."""
    image, group = learning_profile_rows(df)
    names = dict(zip(df["class_index"].tolist(), df["class_name"].astype(str)))
    class_names = [names.get(c, str(c)) for c in range(max(names) + 1)]
    return learning_profile_view(class_names, title or f"Learning profile (true class: {class_names[image['true_class']]})",
                                 data={"values": [{"pick": 0, "group": 0, **image}]},
                                 groups={"values": [{"group": 0, **group}]}, other=-1 in names)


def png_bytes(image: np.ndarray, scale: int = 4) -> bytes:
    """A PNG of a uint8 (H, W, 3) image upscaled by nearest neighbour, so its pixels stay sharp at any zoom."""
    from PIL import Image  # local: only image display needs Pillow

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    h, w = image.shape[:2]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).resize((w * scale, h * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_url(image: np.ndarray, scale: int = 4) -> str:
    """:func:`png_bytes` as a ``data:`` URL, for image marks that must work offline."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, scale)).decode("ascii")


def image_chart(image: np.ndarray, scale: int = 4, title: str | None = None) -> alt.Chart:
    """A crisp enlarged image (:func:`png_data_url`), shown at its own size."""
    url = png_data_url(image, scale)
    h, w = (side * scale for side in np.shape(image)[:2])
    chart = alt.Chart({"values": [{"url": url}]}).mark_image(
        width=w, height=h, align="left", baseline="top").encode(x=alt.value(0), y=alt.value(0), url="url:N")
    props = {"title": alt.TitleParams(title, fontSize=LABEL_SIZE)} if title else {}
    return chart.properties(width=w, height=h, view=alt.ViewConfig(strokeWidth=0), **props)


# ----------------------------------------------------------------------------- output


def save_chart(chart: alt.TopLevelMixin, stem: str | Path, scale_factor: float = 2.0) -> list[Path]:
    """Write ``<stem>.html`` (self-contained: the Vega JS is inlined, so it opens offline) and
    ``<stem>.png`` (rendered by vl-convert at ``scale_factor``), each atomically. Returns both paths."""
    stem = Path(stem)
    html, png = stem.parent / f"{stem.name}.html", stem.parent / f"{stem.name}.png"
    with atomic_path(html) as tmp:
        chart.save(str(tmp), format="html", inline=True)
    with atomic_path(png) as tmp:
        chart.save(str(tmp), format="png", scale_factor=scale_factor)
    return [html, png]


# ----------------------------------------------------------------------------- the claims report (notebook 06)

VERDICT_COLORS = {"holds": "#1b7837", "does not hold": "#b2182b", "cannot tell": "#878787"}


def claims_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Every claim's statistic per setting: the mean over seeds (dot) and the min-max over seeds (bar),
    one panel per claim and dataset titled with its verdict; hollow dots are methods shown beside
    NT and PGD-AT (no verdict). From ``atlib.claims.ClaimsReport.frame()``."""
    _check(df, ["id", "figure", "dataset", "verdict", "label", "method", "epsilon_255", "synthetic", "enters", "mean",
                "min", "max", "unit"], "claims (ClaimsReport.frame)")
    rows = df.dropna(subset=["mean"]).assign(
        panel=lambda d: d["id"] + " · " + d["figure"] + " · " + d["dataset"].map(lambda x: DATASET_TITLES.get(x, x))
        + ": " + d["verdict"] + " (" + d["unit"] + ")")
    order = list(dict.fromkeys(rows["panel"]))
    scale = color_scale(rows)
    base = alt.Chart().encode(y=alt.Y("label:N", sort=list(dict.fromkeys(rows["label"])), axis=_axis(None)),
                              color=alt.Color("label:N", scale=scale, legend=None))
    tooltip = ["label:N", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("min:Q", format=".4g"),
               alt.Tooltip("max:Q", format=".4g"), "verdict:N"]
    bar = base.mark_rule(strokeWidth=3, opacity=0.5).encode(x=alt.X("min:Q", axis=_axis(None), scale=alt.Scale(zero=False)),
                                                            x2="max:Q")
    fill = alt.condition("datum.enters", alt.Fill("label:N", scale=scale, legend=None), alt.value("white"))
    dot = base.mark_point(size=70, opacity=1).encode(x="mean:Q", fill=fill, tooltip=tooltip)
    chart = alt.layer(bar, dot, data=_data(rows)).properties(width=WIDTH, height=alt.Step(18))
    return chart.facet(row=alt.Row("panel:N", sort=order, header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top",
                                                                             labelFontSize=LABEL_SIZE, title=None))).resolve_scale(
        x="independent", y="independent").properties(title=_title("The paper's claims on these runs",
                                                                   "dot: mean over seeds; bar: min-max over seeds"))


def claims_threshold_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Claims 3a-3c behind the verdict: non-monotone and hard shares against the non-monotonicity
    threshold, seed-averaged profiles (line) and each seed's own profile (band: min-max over seeds).
    From ``atlib.claims.ClaimsReport.categories``."""
    _check(df, [*IDS, "threshold", "category", "mean", "min", "max"], "claims (ClaimsReport.categories)")

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        base = alt.Chart().encode(x=alt.X("threshold:Q", axis=_axis("Threshold (total confidence drop)"),
                                          scale=alt.Scale(nice=False)), color=_color(rows))
        band = base.mark_area(opacity=0.15).encode(y=alt.Y("min:Q"), y2="max:Q")
        line = base.mark_line(strokeWidth=2).encode(
            y=alt.Y("mean:Q", axis=_axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
            tooltip=["label:N", "threshold:Q", alt.Tooltip("mean:Q", format=".1f")])
        return alt.layer(band, line, data=_data(rows)).properties(width=WIDTH * 0.8, height=HEIGHT * 0.8).facet(
            column=alt.Column("category:N", sort=["non-monotone", "hard"], header=_header())).properties(
            title=_title(f"{name}: point categories over the threshold range",
                         "line: seed-averaged profiles; band: min-max of each seed's own profile"))

    return _per_dataset(df, build, vertical=True)
