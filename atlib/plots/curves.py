"""Curves over training: the recorded training curves, and the seed mean ± std line every such figure uses."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from atlib.plots import style

METRIC_TITLES = {"train_loss": "Train loss", "train_acc": "Train accuracy (%)", "test_acc": "Test accuracy (%)",
                 "neg_acc": "CIFAR-10-NEG accuracy (%)"}
PERCENT_METRICS = ("train_acc", "test_acc", "neg_acc")  # fractions in the records, drawn in % like every accuracy


def band_and_line(df: pd.DataFrame, y_title: str, percent: bool, title: str, subtitle: str | None = None) -> alt.LayerChart:
    """Seed mean per epoch as a line with a ±1 std band, one colour per run kind."""
    base = alt.Chart().encode(x=alt.X("epoch:Q", axis=style.axis("Epoch")), color=style.color_by_label(df))
    tooltip = ["label:N", "epoch:Q", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]
    band = base.mark_area(opacity=0.18).transform_calculate(lo="datum.mean - datum.std", hi="datum.mean + datum.std").encode(
        y=alt.Y("lo:Q"), y2="hi:Q")
    scale = style.spread_domain(df, 0.0, 1.0 if percent else None)
    line = base.mark_line(strokeWidth=2).encode(y=alt.Y("mean:Q", axis=style.axis(y_title, percent), scale=scale), tooltip=tooltip,
                                                **style.dash_by_data(df))
    return alt.layer(band, line, data=style.inline_data(df)).properties(width=style.WIDTH, height=style.HEIGHT, title=style.title(title, subtitle))


def training_curves_chart(df: pd.DataFrame) -> alt.FacetChart:
    """Recorded curves (loss, accuracies) over epochs, one panel per metric (and row per dataset)."""
    style.check_frame(df, [*style.IDS, "epoch", "metric", "value"], "training_curves")
    rows = df.assign(metric_title=df["metric"].map(METRIC_TITLES).fillna(df["metric"]),
                     value=df["value"].where(~df["metric"].isin(PERCENT_METRICS), df["value"] * 100))
    if "seed" not in rows:
        rows = rows.assign(seed=np.nan)
    order = [METRIC_TITLES.get(m, m) for m in dict.fromkeys(df["metric"])]
    chart = alt.Chart().mark_line(strokeWidth=1.8).encode(
        x=alt.X("epoch:Q", axis=style.axis("Epoch")), y=alt.Y("value:Q", axis=style.axis(None), scale=alt.Scale(zero=False)),
        color=style.color_by_label(df), detail="seed:N", tooltip=["label:N", "seed:N", "metric:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")],
    ).properties(width=style.WIDTH * 0.6, height=style.HEIGHT * 0.7)
    if df["dataset"].nunique() > 1:
        facet = {"column": alt.Column("metric_title:N", sort=order, header=style.header()),
                 "row": alt.Row("dataset:N", header=style.header())}
    else:
        facet = {"facet": alt.Facet("metric_title:N", sort=order, header=style.header()),
                 "columns": style.wrap_columns(style.WIDTH * 0.6 + 40, len(order))}
    return chart.facet(data=style.inline_data(rows), **facet).resolve_scale(y="independent").properties(title=style.title("Training curves"))
