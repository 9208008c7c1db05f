"""The claims report (notebook 06): every claim's statistic per setting, and claims 3a-3c over the threshold."""

from __future__ import annotations

import altair as alt
import pandas as pd

from atlib.plots import style

VERDICT_COLORS = {"holds": "#1b7837", "does not hold": "#b2182b", "cannot tell": "#878787"}


def claims_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Every claim's statistic per setting: the mean over seeds (dot) and the min-max over seeds (bar),
    one panel per claim and dataset titled with its verdict; hollow dots are methods shown beside
    NT and PGD-AT (no verdict). From ``atlib.claims.ClaimsReport.frame()``."""
    style.check_frame(df, ["id", "figure", "dataset", "verdict", "label", "method", "epsilon_255", "synthetic", "enters", "mean",
                "min", "max", "unit"], "claims (ClaimsReport.frame)")
    rows = df.dropna(subset=["mean"]).assign(
        panel=lambda d: d["id"] + " · " + d["figure"] + " · " + d["dataset"].map(lambda x: style.DATASET_TITLES.get(x, x))
        + ": " + d["verdict"] + " (" + d["unit"] + ")")
    order = list(dict.fromkeys(rows["panel"]))
    scale = style.color_scale(rows)
    base = alt.Chart().encode(y=alt.Y("label:N", sort=list(dict.fromkeys(rows["label"])), axis=style.axis(None)),
                              color=alt.Color("label:N", scale=scale, legend=None))
    tooltip = ["label:N", alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("min:Q", format=".4g"),
               alt.Tooltip("max:Q", format=".4g"), "verdict:N"]
    bar = base.mark_rule(strokeWidth=3, opacity=0.5).encode(x=alt.X("min:Q", axis=style.axis(None), scale=alt.Scale(zero=False)),
                                                            x2="max:Q")
    fill = alt.condition("datum.enters", alt.Fill("label:N", scale=scale, legend=None), alt.value("white"))
    dot = base.mark_point(size=70, opacity=1).encode(x="mean:Q", fill=fill, tooltip=tooltip)
    chart = alt.layer(bar, dot, data=style.inline_data(rows)).properties(width=style.WIDTH, height=alt.Step(18))
    return chart.facet(row=alt.Row("panel:N", sort=order, header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top",
                                                                             labelFontSize=style.LABEL_SIZE, title=None))).resolve_scale(
        x="independent", y="independent").properties(title=style.title("The paper's claims on these runs",
                                                                   "dot: mean over seeds; bar: min-max over seeds"))


def claims_threshold_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Claims 3a-3c behind the verdict: non-monotone and hard shares against the non-monotonicity
    threshold, seed-averaged profiles (line) and each seed's own profile (band: min-max over seeds).
    From ``atlib.claims.ClaimsReport.categories``."""
    style.check_frame(df, [*style.IDS, "threshold", "category", "mean", "min", "max"], "claims (ClaimsReport.categories)")

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        base = alt.Chart().encode(x=alt.X("threshold:Q", axis=style.axis("Threshold (total confidence drop)"),
                                          scale=alt.Scale(nice=False)), color=style.color_by_label(rows))
        band = base.mark_area(opacity=0.15).encode(y=alt.Y("min:Q"), y2="max:Q")
        line = base.mark_line(strokeWidth=2).encode(
            y=alt.Y("mean:Q", axis=style.axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
            tooltip=["label:N", "threshold:Q", alt.Tooltip("mean:Q", format=".1f")])
        return alt.layer(band, line, data=style.inline_data(rows)).properties(width=style.WIDTH * 0.8, height=style.HEIGHT * 0.8).facet(
            column=alt.Column("category:N", sort=["non-monotone", "hard"], header=style.header())).properties(
            title=style.title(f"{name}: point categories over the threshold range",
                         "line: seed-averaged profiles; band: min-max of each seed's own profile"))

    return style.per_dataset(df, build, vertical=True)
