"""Altair charts of the training-set dynamics, one per figure of notebook 07, fed by :mod:`atlib.dynamics.frames`.

A module of its own beside :mod:`atlib.plots`, whose shared styling (colours by setting, axes, titles,
inline data, one panel per dataset) it uses, so these figures look like the paper's.
"""

from __future__ import annotations

from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from atlib import plots
from atlib.dynamics.frames import CROSS_BUCKETS, SIDE_COLUMNS
from atlib.metrics import CATEGORIES
from atlib.plots import HEIGHT, WIDTH, _axis, _check, _color, _data, _header, _legend, _per_dataset, _title

GALLERY_COLUMNS = 6
SCORE_TITLES = {"aum": "AUM (mean logit margin over presentations)", "el2n": "EL2N (‖p − onehot(y)‖₂)"}


def _one_input_per_label(df: pd.DataFrame, source: str) -> None:
    if df.groupby("label")["input"].nunique().max() > 1:
        raise ValueError(f"one input per setting: filter the {source} frame by its `clean` column first")


def forgetting_histogram_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Share of training examples by number of forgetting events, settings side by side in each bucket;
    never-learned examples in their own bucket. Bars: mean over seeds; rules: ±1 std."""
    _check(df, [*SIDE_COLUMNS, "bucket", "order", "mean", "std"], "dynamics.frames.forgetting_histogram")
    _one_input_per_label(df, "forgetting_histogram")
    order = list(df.sort_values("order")["bucket"].drop_duplicates())
    labels = list(plots._kinds(df)["label"])

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        base = alt.Chart().encode(x=alt.X("bucket:N", sort=order, axis=_axis("Forgetting events", labelAngle=0)),
                                  xOffset=alt.XOffset("label:N", sort=labels), color=_color(df))
        bars = base.mark_bar().encode(y=alt.Y("mean:Q", axis=_axis("Training examples", percent=True)),
                                      tooltip=["label:N", "input:N", "bucket:N", alt.Tooltip("mean:Q", format=".2%"),
                                               alt.Tooltip("std:Q", format=".2%"), "n_seeds:Q"])
        spread = base.mark_rule(color="#333").transform_calculate(lo="datum.mean - datum.std", hi="datum.mean + datum.std"
                                                                  ).encode(y="lo:Q", y2="hi:Q")
        subtitle = "correct → incorrect between consecutive presentations; bars ±1 std over seeds"
        return alt.layer(bars, spread, data=_data(rows)).properties(
            width=WIDTH * 1.4, height=HEIGHT, title=_title(f"{name}: forgetting events per training example", subtitle))

    return _per_dataset(df, build)


def forgetting_summary_chart(df: pd.DataFrame, metrics: Sequence[str] = ("unforgettable", "never learned")) -> alt.TopLevelMixin:
    """The share of unforgettable and of never-learned training examples against the training ε (NT dashed)."""
    _check(df, [*SIDE_COLUMNS, "series", "metric", "mean", "std"], "dynamics.frames.forgetting_summary")
    _one_input_per_label(df, "forgetting_summary")

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        panels = [plots._versus_epsilon_layers(df, f"{m.capitalize()} examples", _data(rows[rows["metric"] == m])).properties(
            width=WIDTH * 0.8, height=HEIGHT, title=_title(f"{name}: {m} training examples", "NT dashed (band ±1 std)"))
            for m in metrics]
        return alt.hconcat(*panels)

    return _per_dataset(df, build, vertical=True)


def data_map_chart(df: pd.DataFrame) -> alt.VConcatChart:
    """Dataset Cartography maps: confidence against variability, coloured by correctness, one line per
    setting with one map per input (adversarial and clean side by side for AT with clean statistics).
    Dashed: the region boundaries (thirds: easy-to-learn above, hard-to-learn below, ambiguous right)."""
    _check(df, [*SIDE_COLUMNS, "confidence", "variability", "correctness", "easy_from", "hard_below", "ambiguous_from"],
           "dynamics.frames.data_map")
    rows = df.dropna(subset=["confidence", "variability"])
    points = alt.Chart().mark_circle(size=10, opacity=0.6).encode(
        x=alt.X("variability:Q", axis=_axis("Variability (std of p_true)"), scale=alt.Scale(domain=[0, 0.5])),
        y=alt.Y("confidence:Q", axis=_axis("Confidence (mean p_true)"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("correctness:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]), legend=_legend("Correctness")),
        tooltip=["label:N", "input:N", "column:Q", alt.Tooltip("confidence:Q", format=".3f"),
                 alt.Tooltip("variability:Q", format=".3f"), alt.Tooltip("correctness:Q", format=".2f")])
    dashed = {"strokeDash": [5, 3], "color": "#d62728", "strokeWidth": 1.5}
    bounds = [alt.Chart().mark_rule(**dashed).encode(y="mean(easy_from):Q"),
              alt.Chart().mark_rule(**dashed).encode(y="mean(hard_below):Q"),
              alt.Chart().mark_rule(**dashed).encode(x="mean(ambiguous_from):Q")]
    lines = []  # explicit cells, not a facet: Vega-Lite misplaces layered cells under a custom facet sort
    for label in plots._kinds(df)["label"]:
        mine = rows[rows["label"] == label]
        cells = [alt.layer(points, *bounds, data=_data(part)).properties(
            width=WIDTH * 0.6, height=WIDTH * 0.6, title=alt.TitleParams(f"{label} · {side}", fontSize=plots.TITLE_SIZE))
            for side, part in mine.groupby("input", sort=False)]
        if cells:
            lines.append(alt.hconcat(*cells))
    return alt.vconcat(*lines).properties(title=_title(
        "Data maps of the training set",
        "per example over its presentations; dashed: top/bottom thirds by confidence, top third by variability"))


def score_distribution_chart(df: pd.DataFrame, score: str) -> alt.TopLevelMixin:
    """Overlaid histograms of a per-example score (``aum`` or ``el2n``), one colour per setting, one
    column per input when the frame holds several."""
    _check(df, ["label", "dataset", "method", "epsilon_255", "synthetic", "bin_start", "bin_end", "density"],
           f"dynamics.frames.{score}_distribution")
    title = SCORE_TITLES.get(score, score)

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        at = f"epoch {rows['epoch'].iloc[0]:g}" if "epoch" in rows and rows["epoch"].nunique() == 1 else None
        facet = "input" in rows and rows["input"].nunique() > 1
        chart = alt.Chart(alt.Undefined if facet else _data(rows)).mark_rect(opacity=0.45).encode(
            x=alt.X("bin_start:Q", axis=_axis(title), scale=alt.Scale(nice=False)), x2="bin_end:Q",
            y=alt.Y("density:Q", axis=_axis("Density")), y2=alt.datum(0), color=_color(df),
            tooltip=["label:N", alt.Tooltip("bin_start:Q", format=".3f"), alt.Tooltip("density:Q", format=".3f")],
        ).properties(width=WIDTH, height=HEIGHT)
        heading = _title(f"{name}: {score.upper()} of training examples", at)
        if facet:
            return chart.facet(data=_data(rows), column=alt.Column("input:N", header=_header())).properties(title=heading)
        return chart.properties(title=heading)

    return _per_dataset(df, build, vertical=True)


def probe_crosstab_chart(df: pd.DataFrame) -> alt.FacetChart:
    """Training-probe examples by Appendix B category (rows) and forgetting events (columns): the share
    of each category's examples (colour) and their count (text), one panel per setting."""
    _check(df, ["label", "category", "bucket", "count", "percentage"], "dynamics.frames.probe_crosstab")
    base = alt.Chart().encode(x=alt.X("bucket:N", sort=list(CROSS_BUCKETS), axis=_axis("Forgetting events", labelAngle=0)),
                              y=alt.Y("category:N", sort=list(CATEGORIES), axis=_axis(None)))
    cells = base.mark_rect().encode(color=alt.Color("percentage:Q", scale=alt.Scale(scheme="blues", domain=[0, 100]),
                                                    legend=_legend("% of category")),
                                    tooltip=["label:N", "category:N", "bucket:N", "count:Q", alt.Tooltip("percentage:Q", format=".1f")])
    text = base.mark_text(fontSize=plots.LABEL_SIZE).encode(
        text="count:Q", color=alt.condition("datum.percentage > 60", alt.value("white"), alt.value("black")))
    return alt.layer(cells, text).properties(width=WIDTH * 0.7, height=HEIGHT * 0.6).facet(
        data=_data(df), facet=alt.Facet("label:N", sort=list(plots._kinds(df)["label"]), header=_header()), columns=2,
    ).properties(title=_title("Training probe: point categories vs forgetting events", "counts summed over seeds"))


def probe_correlation_chart(df: pd.DataFrame) -> alt.Chart:
    """Spearman rank correlations between the probe's scores, one row per setting and one column per pair."""
    _check(df, ["label", "x", "y", "spearman", "n"], "dynamics.frames.probe_correlations")
    rows = df.assign(pair=df["x"] + " ~ " + df["y"])
    base = alt.Chart(_data(rows)).encode(x=alt.X("pair:N", sort=list(dict.fromkeys(rows["pair"])), axis=_axis(None, labelAngle=-20)),
                                         y=alt.Y("label:N", sort=list(plots._kinds(df)["label"]), axis=_axis(None)))
    cells = base.mark_rect().encode(color=alt.Color("spearman:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1]),
                                                    legend=_legend("Spearman ρ")),
                                    tooltip=["label:N", "pair:N", alt.Tooltip("spearman:Q", format=".3f"), "n:Q"])
    text = base.mark_text(fontSize=plots.LABEL_SIZE).encode(text=alt.Text("spearman:Q", format=".2f"))
    return alt.layer(cells, text).properties(width=alt.Step(110), height=alt.Step(28), title=_title(
        "Training probe: rank correlation of difficulty scores", "Spearman ρ over the probe examples"))


def synthetic_gallery_chart(df: pd.DataFrame, images: np.ndarray, title: str) -> alt.VConcatChart:
    """The suspicious synthesized images of ``dynamics.frames.suspicious_synthetic`` (row k: ``images[k]``),
    each titled with its label, AUM and how often the model chose its label."""
    _check(df, ["index", "class_name", "aum", "draws", "correct"], "dynamics.frames.suspicious_synthetic")
    if len(images) != len(df):
        raise ValueError(f"one image per row: got {len(images)} images for {len(df)} rows")
    cells = [plots.image_chart(img, scale=3, title=f"#{i} {name} · AUM {a:.2f} · right {round(c * d)}/{d}")
             for img, i, name, a, c, d in zip(images, df["index"], df["class_name"], df["aum"], df["correct"], df["draws"])]
    lines = [alt.hconcat(*cells[k:k + GALLERY_COLUMNS]) for k in range(0, len(cells), GALLERY_COLUMNS)]
    return alt.vconcat(*lines).properties(title=_title(
        title, "#row in the synthesized set, label · AUM · draws the model classified as the label / all draws"))
