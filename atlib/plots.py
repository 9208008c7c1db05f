"""Altair chart builders for the paper's figures, one per figure, fed by :mod:`atlib.analysis` frames.

No analysis happens here, only reshaping for the chart. Conventions shared by every figure:
- the same colour for the same run kind everywhere (:func:`label_color`): NT greens, AT reds
  darkening with ε, AT on synthesized data blues darkening with ε; Fig 5-style charts colour the
  four series NT / NT + synth / AT / AT + synth with the mid tones of the same families;
- ε is written ``ε=8/255``; accuracies are fractions shown as percentages;
- data travels inline as plain records (``{"values": [...]}``), so no chart depends on Altair's
  5,000-row limit being lifted by the caller, and charts compose (``alt.hconcat``) because
  styling lives on the axes, legends and titles rather than in top-level ``config``;
- one panel per dataset (CIFAR-10 and CIFAR-100 side by side) when a frame holds both.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Callable, Sequence

import altair as alt
import numpy as np
import pandas as pd

from atlib.io import atomic_path
from atlib.metrics import CATEGORIES, DEFAULT_THRESHOLD

WIDTH, HEIGHT = 360, 240
LABEL_SIZE, TITLE_SIZE, HEADING_SIZE = 12, 13, 15
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
METRIC_TITLES = {"train_loss": "Train loss", "train_acc": "Train accuracy", "test_acc": "Test accuracy",
                 "neg_acc": "CIFAR-10-NEG accuracy"}
CATEGORY_COLORS = {"easy": "#1b9e77", "hard": "#525252", "monotone": "#377eb8", "non-monotone": "#ff7f00"}
NT_COLORS = {False: "#1b7837", True: "#7fbc41"}  # original data, synthesized data
# Light to dark stops for ε = 1/255 ... 16/255 (log-spaced); other budgets interpolate or clamp.
AT_RAMPS = {False: ("#f4845f", "#d7301f", "#a50f15", "#4d0008"), True: ("#74a9cf", "#2b8cbe", "#045a8d", "#012a4a")}
SERIES_COLORS = {("nt", False): NT_COLORS[False], ("nt", True): NT_COLORS[True],
                 ("at", False): AT_RAMPS[False][1], ("at", True): AT_RAMPS[True][1]}
EPS_LABEL_EXPR = "datum.value == 0 ? 'NT' : datum.value + '/255'"
IDS = ("label", "dataset", "method", "epsilon_255", "synthetic")


# ----------------------------------------------------------------------------- colours and styling


def label_color(method: str, epsilon_255: float, synthetic: bool) -> str:
    """The colour of one kind of run, the same in every figure."""
    if method == "nt":
        return NT_COLORS[bool(synthetic)]
    stops = AT_RAMPS[bool(synthetic)]
    pos = float(np.clip(math.log2(max(epsilon_255, 1e-9)) / 4.0, 0.0, 1.0)) * (len(stops) - 1)  # log2(16) = 4
    lo = int(min(pos, len(stops) - 2))
    a, b = (np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for c in stops[lo:lo + 2])
    rgb = np.rint(a + (b - a) * (pos - lo)).astype(int)
    return "#" + "".join(f"{v:02x}" for v in rgb)


def _kinds(df: pd.DataFrame) -> pd.DataFrame:
    """One row per label, in the order of :func:`atlib.runs.group_seeds` (NT first, then ε, original first)."""
    kinds = df.drop_duplicates("label")[["label", "method", "epsilon_255", "synthetic"]]
    return kinds.assign(_nt=kinds["method"] != "nt").sort_values(["_nt", "epsilon_255", "synthetic"], kind="stable")


def color_scale(df: pd.DataFrame) -> alt.Scale:
    """Colour scale over the frame's ``label`` values, each coloured by :func:`label_color`."""
    kinds = _kinds(df)
    return alt.Scale(domain=list(kinds["label"]),
                     range=[label_color(m, e, s) for m, e, s in zip(kinds["method"], kinds["epsilon_255"], kinds["synthetic"])])


def _series_name(method: str, synthetic: bool, data: str) -> str:
    return ("NT" if method == "nt" else "AT") + (f" + {data}" if synthetic else "")


def _with_series(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``series``: NT / AT, with `` + <synthetic tag>`` for runs on synthesized data."""
    data = df["data"] if "data" in df else pd.Series("synth", index=df.index)
    return df.assign(series=[_series_name(m, s, d) for m, s, d in zip(df["method"], df["synthetic"], data)])


def series_color_scale(df: pd.DataFrame) -> alt.Scale:
    """Colour scale over the ``series`` column of :func:`_with_series` frames (NT, NT + synth, AT, AT + synth)."""
    kinds = df.drop_duplicates("series").assign(_at=lambda d: d["method"] != "nt").sort_values(["_at", "synthetic"])
    return alt.Scale(domain=list(kinds["series"]),
                     range=[SERIES_COLORS[(m, bool(s))] for m, s in zip(kinds["method"], kinds["synthetic"])])


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
    """Category shares against the non-monotonicity threshold; the default threshold marked."""
    _check(df, ["threshold", "category", "percentage"], "threshold_sweep")
    base = alt.Chart().encode(
        x=alt.X("threshold:Q", axis=_axis("Non-monotonicity threshold (total confidence drop)")),
        y=alt.Y("percentage:Q", axis=_axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
        color=_category_color(), tooltip=["category:N", "threshold:Q", alt.Tooltip("percentage:Q", format=".1f")])
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888").encode(x=alt.datum(DEFAULT_THRESHOLD))
    chart = alt.layer(*_line_and_points(base), rule, data=_data(df)).properties(width=WIDTH, height=HEIGHT)
    subtitle = f"dashed: default threshold {DEFAULT_THRESHOLD:g}"
    if "label" in df and df["label"].nunique() > 1:
        return chart.facet(column=alt.Column("label:N", header=_header())).properties(
            title=_title("Point categories vs threshold", subtitle))
    label = f" ({df['label'].iloc[0]})" if "label" in df else ""
    return chart.properties(title=_title(f"Point categories vs threshold{label}", subtitle))


# ----------------------------------------------------------------------------- Fig 4: CIFAR-10-NEG


def neg_accuracy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 4: CIFAR-10-NEG accuracy over training, mean ± std over seeds, one line per run kind."""
    _check(df, [*IDS, "epoch", "mean", "std"], "neg_accuracy_curves")
    return _band_and_line(df, "CIFAR-10-NEG accuracy", True, "CIFAR-10-NEG accuracy over training", "band: ±1 std over seeds")


# ----------------------------------------------------------------------------- Fig 5, 7, 8: CIFAR-C; robustness


def _versus_epsilon_layers(df: pd.DataFrame, y_title: str, data: dict | None = None) -> alt.LayerChart:
    """AT as lines over ε with ±1 std bars; NT (no ε) as dashed horizontal references with a std band."""
    color = alt.Color("series:N", scale=series_color_scale(df), legend=_legend("Model"))
    tooltip = ["label:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]
    spread = {"lo": "datum.mean - datum.std", "hi": "datum.mean + datum.std"}
    at = alt.Chart().transform_filter("datum.method == 'at'").encode(
        x=alt.X("epsilon_255:O", axis=_axis("Training ε", labelExpr="datum.value + '/255'", labelAngle=0)), color=color)
    nt = alt.Chart().transform_filter("datum.method == 'nt'").encode(color=color)
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
    _check(df, [*IDS, "mean", "std"], "cifar_c_summary")
    df = _with_series(df)
    convention = {"seed_paper": "mean of 19 corruptions", "robustbench": "mean of 15 common corruptions"}
    sub = convention.get(df["convention"].iloc[0], "") if "convention" in df else ""
    subtitle = f"{sub}; NT dashed (band ±1 std)" if sub else "NT dashed (band ±1 std)"

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        return _versus_epsilon_layers(df, "CIFAR-C accuracy", _data(rows)).properties(
            width=WIDTH, height=HEIGHT, title=_title(f"{name}-C accuracy vs ε", subtitle))

    return _per_dataset(df, build)


def cifar_c_corruptions_chart(df: pd.DataFrame, columns: int = 5) -> alt.TopLevelMixin:
    """Fig 7/8: the Fig 5 chart per corruption, one small panel each."""
    _check(df, [*IDS, "corruption", "mean", "std"], "cifar_c_per_corruption")
    df = _with_series(df).assign(corruption_title=lambda d: d["corruption"].str.replace("_", " ").str.capitalize())

    def build(rows: pd.DataFrame, name: str) -> alt.FacetChart:
        order = list(dict.fromkeys(rows["corruption_title"]))
        return _versus_epsilon_layers(df, "Accuracy").properties(width=WIDTH * 0.45, height=HEIGHT * 0.6).facet(
            data=_data(rows), facet=alt.Facet("corruption_title:N", sort=order, header=_header()), columns=columns,
        ).properties(title=_title(f"{name}-C: accuracy per corruption vs ε", "NT dashed (band ±1 std)"))

    return _per_dataset(df, build, vertical=True)


def robust_accuracy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Robust (PGD) and clean accuracy against the training ε: the robustness side of the trade-off."""
    _check(df, [*IDS, "eval_epsilon_255", "robust_mean", "robust_std", "clean_mean", "clean_std"], "robust_summary")
    df = _with_series(df)
    robust = df.assign(measure=[f"PGD ε={e:g}/255" for e in df["eval_epsilon_255"]], mean=df["robust_mean"], std=df["robust_std"])
    clean = df.drop_duplicates("label").assign(measure="clean", mean=lambda d: d["clean_mean"], std=lambda d: d["clean_std"])
    long = pd.concat([clean, robust], ignore_index=True)
    measures = list(dict.fromkeys(long["measure"]))
    series = series_color_scale(long)
    color = alt.Color("series:N", scale=series, legend=_legend("Model"))
    base = alt.Chart().encode(  # a narrow band per ε, the series side by side in it, so NT and NT + synth do not hide each other
        x=alt.X("epsilon_255:O", axis=_eps_axis(), scale=alt.Scale(paddingInner=0.8, paddingOuter=0.4)),
        xOffset=alt.XOffset("series:N", scale=alt.Scale(domain=series.domain)), color=color)
    dashes = [[6, 3], [1, 0], [2, 2], [8, 3, 2, 3]]  # clean, then one per PGD budget
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


def learning_profile_chart(df: pd.DataFrame, title: str | None = None) -> alt.LayerChart:
    """Fig 6: stacked class probabilities of one example over training, true class at the bottom
    outlined in black, the global test accuracy dashed over it."""
    _check(df, ["epoch", "class_name", "probability", "is_true", "global_acc"], "learning_profile")
    true_names = df.loc[df["is_true"], "class_name"].unique()
    true_name = str(true_names[0]) if len(true_names) else "?"
    rows = df.assign(stack_order=np.where(df["is_true"], -1, df.get("class_index", 0)))
    n_classes = rows["class_name"].nunique()
    palette = "tableau10" if n_classes <= 10 else "tableau20"
    color = alt.Color("class_name:N", scale=alt.Scale(scheme=palette),
                      legend=_legend("Class", symbolType="square") if n_classes <= 20 else None)
    x = alt.X("epoch:Q", axis=_axis("Epoch"), scale=alt.Scale(nice=False))
    area = alt.Chart().mark_area(opacity=0.85).encode(
        x=x, y=alt.Y("probability:Q", stack="zero", axis=_axis("Probability", percent=True), scale=alt.Scale(domain=[0, 1])),
        color=color, order=alt.Order("stack_order:Q"),
        tooltip=["epoch:Q", "class_name:N", alt.Tooltip("probability:Q", format=".3f"), alt.Tooltip("global_acc:Q", format=".3f")])
    true_line = alt.Chart().transform_filter("datum.is_true").mark_line(color="black", strokeWidth=2.5).encode(x=x, y="probability:Q")
    acc_line = alt.Chart().transform_filter("datum.is_true").mark_line(color="#222", strokeDash=[6, 3], strokeWidth=2).encode(
        x=x, y="global_acc:Q")
    subtitle = f"solid black: probability of the true class ({true_name});  dashed: global test accuracy"
    return alt.layer(area, true_line, acc_line, data=_data(rows)).properties(
        width=WIDTH, height=HEIGHT, title=_title(title or f"Learning profile (true class: {true_name})", subtitle))


def image_chart(image: np.ndarray, scale: int = 4, title: str | None = None) -> alt.Chart:
    """A crisp enlarged image: upscaled with nearest-neighbour into a PNG data URL, shown at its own size."""
    from PIL import Image  # local: only image charts need Pillow

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    h, w = image.shape[0] * scale, image.shape[1] * scale
    buffer = io.BytesIO()
    Image.fromarray(image).resize((w, h), Image.NEAREST).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
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
