"""Altair charts of the training-set dynamics, one per figure of notebook 07, fed by :mod:`atlib.dynamics.frames`.

Drawn with :mod:`atlib.plots.style` (colours by setting, axes, titles, inline data, one panel per dataset), so
these figures look like the paper's.
"""

from __future__ import annotations

from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from atlib.dynamics.frames import CROSS_BUCKETS, SIDE_COLUMNS
from atlib.metrics import CATEGORIES
from atlib.plots import style
from atlib.plots.profiles import image_chart
from atlib.plots.robustness import versus_epsilon_layers

GALLERY_COLUMNS = 6
SCORE_TITLES = {"aum": "AUM (mean logit margin over presentations)", "el2n": "EL2N (‖p − onehot(y)‖₂)"}


def _one_input_per_label(df: pd.DataFrame, source: str) -> None:
    if df.groupby("label")["input"].nunique().max() > 1:
        raise ValueError(f"one input per setting: filter the {source} frame by its `clean` column first")


def forgetting_histogram_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Share of training examples by number of forgetting events, settings side by side in each bucket;
    never-learned examples in their own bucket. Bars: mean over seeds; rules: ±1 std."""
    style.check_frame(df, [*SIDE_COLUMNS, "bucket", "order", "mean", "std"], "dynamics.frames.forgetting_histogram")
    _one_input_per_label(df, "forgetting_histogram")
    order = list(df.sort_values("order")["bucket"].drop_duplicates())
    labels = list(style.kinds(df)["label"])

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        base = alt.Chart().encode(x=alt.X("bucket:N", sort=order, axis=style.axis("Forgetting events", labelAngle=0)),
                                  xOffset=alt.XOffset("label:N", sort=labels), color=style.color_by_label(df))
        domain = style.interval_domain([0.0, *(rows["mean"] - rows["std"].fillna(0))], rows["mean"] + rows["std"].fillna(0), 0.0, 1.0)
        bars = base.mark_bar().encode(y=alt.Y("mean:Q", axis=style.axis("Training examples", percent=True),
                                              scale=alt.Scale(domain=domain, nice=False)),
                                      tooltip=["label:N", "input:N", "bucket:N", alt.Tooltip("mean:Q", format=".2%"),
                                               alt.Tooltip("std:Q", format=".2%"), "n_seeds:Q"])
        spread = base.mark_rule(color="#333").transform_calculate(lo="datum.mean - datum.std", hi="datum.mean + datum.std"
                                                                  ).encode(y="lo:Q", y2="hi:Q")
        subtitle = "correct → incorrect between consecutive presentations; bars ±1 std over seeds"
        return alt.layer(bars, spread, data=style.inline_data(rows)).properties(
            width=style.WIDTH * 1.4, height=style.HEIGHT, title=style.title(f"{name}: forgetting events per training example", subtitle))

    return style.per_dataset(df, build)


def forgetting_summary_chart(df: pd.DataFrame, metrics: Sequence[str] = ("unforgettable", "never learned")) -> alt.TopLevelMixin:
    """The share of unforgettable and of never-learned training examples against the training ε (NT dashed)."""
    style.check_frame(df, [*SIDE_COLUMNS, "series", "metric", "mean", "std"], "dynamics.frames.forgetting_summary")
    _one_input_per_label(df, "forgetting_summary")

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        panels = [versus_epsilon_layers(df, f"{m.capitalize()} examples", style.inline_data(rows[rows["metric"] == m])).properties(
            width=style.WIDTH * 0.8, height=style.HEIGHT, title=style.title(f"{name}: {m} training examples", "NT dashed (band ±1 std)"))
            for m in metrics]
        return alt.hconcat(*panels)

    return style.per_dataset(df, build, vertical=True)


def data_map_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Dataset Cartography maps: confidence against variability, coloured by correctness, one map per setting
    and input (adversarial and clean one after the other for AT with clean statistics), wrapped in rows.
    Dashed: the region boundaries (thirds: easy-to-learn above, hard-to-learn below, ambiguous right)."""
    style.check_frame(df, [*SIDE_COLUMNS, "confidence", "variability", "correctness", "easy_from", "hard_below", "ambiguous_from"],
           "dynamics.frames.data_map")
    rows = df.dropna(subset=["confidence", "variability"])
    points = alt.Chart().mark_circle(size=10, opacity=0.6).encode(
        x=alt.X("variability:Q", axis=style.axis("Variability (std of p_true)"), scale=alt.Scale(domain=[0, 0.5])),
        y=alt.Y("confidence:Q", axis=style.axis("Confidence (mean p_true)"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("correctness:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]), legend=style.legend("Correctness")),
        tooltip=["label:N", "input:N", "column:Q", alt.Tooltip("confidence:Q", format=".3f"),
                 alt.Tooltip("variability:Q", format=".3f"), alt.Tooltip("correctness:Q", format=".2f")])
    dashed = {"strokeDash": [5, 3], "color": "#d62728", "strokeWidth": 1.5}
    bounds = [alt.Chart().mark_rule(**dashed).encode(y="mean(easy_from):Q"),
              alt.Chart().mark_rule(**dashed).encode(y="mean(hard_below):Q"),
              alt.Chart().mark_rule(**dashed).encode(x="mean(ambiguous_from):Q")]
    cells = []  # explicit cells, not a facet: Vega-Lite misplaces layered cells under a custom facet sort
    for label in style.kinds(df)["label"]:
        mine = rows[rows["label"] == label]
        cells += [alt.layer(points, *bounds, data=style.inline_data(part)).properties(
            width=style.WIDTH * 0.6, height=style.WIDTH * 0.6, title=alt.TitleParams(f"{label} · {side}", fontSize=style.TITLE_SIZE))
            for side, part in mine.groupby("input", sort=False)]
    return style.wrap(cells, style.WIDTH * 0.6 + 40).properties(title=style.title(
        "Data maps of the training set",
        "per example over its presentations; dashed: top/bottom thirds by confidence, top third by variability"))


def score_distribution_chart(df: pd.DataFrame, score: str) -> alt.TopLevelMixin:
    """Histograms of a per-example score (``aum`` or ``el2n``) as outlines, one colour per setting, one
    column per input when the frame holds several."""
    style.check_frame(df, ["label", "dataset", "method", "epsilon_255", "synthetic", "bin_start", "bin_end", "density"],
           f"dynamics.frames.{score}_distribution")
    title = SCORE_TITLES.get(score, score)

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        at = f"epoch {rows['epoch'].iloc[0]:g}" if "epoch" in rows and rows["epoch"].nunique() == 1 else None
        facet = "input" in rows and rows["input"].nunique() > 1
        data = style.inline_data(style.outline_rows(rows, ("label", "input")))
        chart = style.outline_histogram(title, style.color_by_label(df), alt.Undefined if facet else data).properties(
            width=style.WIDTH, height=style.HEIGHT)
        heading = style.title(f"{name}: {score.upper()} of training examples", at)
        if facet:
            return chart.facet(data=data, facet=alt.Facet("input:N", header=style.header()),
                               columns=style.wrap_columns(style.WIDTH, rows["input"].nunique())).properties(title=heading)
        return chart.properties(title=heading)

    return style.per_dataset(df, build, vertical=True)


def probe_crosstab_chart(df: pd.DataFrame) -> alt.FacetChart:
    """Training-probe examples by Appendix B category (rows) and forgetting events (columns): the share
    of each category's examples (colour) and their count (text), one panel per setting."""
    style.check_frame(df, ["label", "category", "bucket", "count", "percentage"], "dynamics.frames.probe_crosstab")
    base = alt.Chart().encode(x=alt.X("bucket:N", sort=list(CROSS_BUCKETS), axis=style.axis("Forgetting events", labelAngle=0)),
                              y=alt.Y("category:N", sort=list(CATEGORIES), axis=style.axis(None)))
    cells = base.mark_rect().encode(color=alt.Color("percentage:Q", scale=alt.Scale(scheme="blues", domain=[0, 100]),
                                                    legend=style.legend("% of category")),
                                    tooltip=["label:N", "category:N", "bucket:N", "count:Q", alt.Tooltip("percentage:Q", format=".1f")])
    text = base.mark_text(fontSize=style.LABEL_SIZE).encode(
        text="count:Q", color=alt.condition("datum.percentage > 60", alt.value("white"), alt.value("black")))
    return alt.layer(cells, text).properties(width=style.WIDTH * 0.7, height=style.HEIGHT * 0.6).facet(
        data=style.inline_data(df), facet=alt.Facet("label:N", sort=list(style.kinds(df)["label"]), header=style.header()), columns=2,
    ).properties(title=style.title("Training probe: point categories vs forgetting events", "counts summed over seeds"))


def probe_correlation_chart(df: pd.DataFrame) -> alt.Chart:
    """Spearman rank correlations between the probe's scores, one row per setting and one column per pair."""
    style.check_frame(df, ["label", "x", "y", "spearman", "n"], "dynamics.frames.probe_correlations")
    rows = df.assign(pair=df["x"] + " ~ " + df["y"])
    base = alt.Chart(style.inline_data(rows)).encode(x=alt.X("pair:N", sort=list(dict.fromkeys(rows["pair"])), axis=style.axis(None, labelAngle=-20)),
                                         y=alt.Y("label:N", sort=list(style.kinds(df)["label"]), axis=style.axis(None)))
    cells = base.mark_rect().encode(color=alt.Color("spearman:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1]),
                                                    legend=style.legend("Spearman ρ")),
                                    tooltip=["label:N", "pair:N", alt.Tooltip("spearman:Q", format=".3f"), "n:Q"])
    text = base.mark_text(fontSize=style.LABEL_SIZE).encode(text=alt.Text("spearman:Q", format=".2f"))
    return alt.layer(cells, text).properties(width=alt.Step(110), height=alt.Step(28), title=style.title(
        "Training probe: rank correlation of difficulty scores", "Spearman ρ over the probe examples"))


def synthetic_gallery_chart(df: pd.DataFrame, images: np.ndarray, title: str) -> alt.VConcatChart:
    """The suspicious synthesized images of ``dynamics.frames.suspicious_synthetic`` (row k: ``images[k]``),
    each titled with its label, AUM and how often the model chose its label."""
    style.check_frame(df, ["index", "class_name", "aum", "draws", "correct"], "dynamics.frames.suspicious_synthetic")
    if len(images) != len(df):
        raise ValueError(f"one image per row: got {len(images)} images for {len(df)} rows")
    cells = [image_chart(img, scale=3, title=f"#{i} {name} · AUM {a:.2f} · right {round(c * d)}/{d}")
             for img, i, name, a, c, d in zip(images, df["index"], df["class_name"], df["aum"], df["correct"], df["draws"])]
    lines = [alt.hconcat(*cells[k:k + GALLERY_COLUMNS]) for k in range(0, len(cells), GALLERY_COLUMNS)]
    return alt.vconcat(*lines).properties(title=style.title(
        title, "#row in the synthesized set, label · AUM · draws the model classified as the label / all draws"))
