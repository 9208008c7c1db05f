"""The claims report (notebook 06): every claim's statistic per setting, and claims 3a-3c over the threshold."""

from __future__ import annotations

import altair as alt
import pandas as pd

from atlib.datasets import title as dataset_title
from atlib.plots import style

VERDICT_COLORS = {"holds": "#1b7837", "does not hold": "#b2182b", "cannot tell": "#878787"}


# statistic units -> (factor, shown unit): accuracies and shares are drawn in percentage points
UNITS = {"accuracy": (100.0, "pp"), "drop": (100.0, "pp"), "gain": (100.0, "pp"), "%": (1.0, "pp"),
         "nats": (1.0, "nats"), "share": (1.0, "share of training")}
MARKS = {"estimate": "mean over the shared seeds", "averaged": "seed-averaged profiles (sign check)"}


def claims_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """What each verdict read: every difference a claim orders (``B − A``: the claim says it is above 0),
    its mean over the shared seeds (dot) and the interval the verdict used (bar: seeds and images), with 0
    and the claim's minimum effect (dashed) marked, in the table's units (accuracies and shares in pp).
    For 3a-3c a diamond marks the difference under the seed-averaged profiles, the sign check, which
    measures something else than the bar. One panel per claim and dataset, titled with its verdict.
    From ``atlib.claims.ClaimsReport.difference_frame()``."""
    style.check_frame(df, ["id", "figure", "dataset", "verdict", "name", "estimate", "low", "high", "minimum", "averaged",
                           "unit"], "claims (ClaimsReport.difference_frame)")
    rows = df.dropna(subset=["estimate"]).copy()
    factor = rows["unit"].map(lambda u: UNITS.get(u, (1.0, u))[0])
    for column in ("estimate", "low", "high", "minimum", "averaged"):
        rows[column] = rows[column] * factor
    rows["panel"] = (rows["id"] + " · " + rows["figure"] + " · " + rows["dataset"].map(dataset_title)
                     + ": " + rows["verdict"] + " (" + rows["unit"].map(lambda u: UNITS.get(u, (1.0, u))[1]) + ")")
    marks = pd.concat([rows.assign(mark=MARKS["estimate"], x=rows["estimate"]),
                       rows.dropna(subset=["averaged"]).assign(mark=MARKS["averaged"], x=lambda d: d["averaged"])])
    order = list(dict.fromkeys(rows["panel"]))
    y = alt.Y("name:N", sort=list(dict.fromkeys(rows["name"])), axis=style.axis(None, labelLimit=360))
    tooltip = ["name:N", alt.Tooltip("estimate:Q", format=".3g"), alt.Tooltip("low:Q", format=".3g"),
               alt.Tooltip("high:Q", format=".3g"), alt.Tooltip("minimum:Q", format=".3g"), "verdict:N"]
    colour = alt.Color("verdict:N", scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
                       legend=style.legend("Verdict"))
    zero = alt.Chart().mark_rule(color="#bbbbbb").encode(x=alt.datum(0))
    bar = alt.Chart().mark_rule(strokeWidth=3, opacity=0.6).encode(
        y=y, x=alt.X("low:Q", axis=style.axis(None), scale=alt.Scale(zero=True)), x2="high:Q", color=colour, tooltip=tooltip)
    dots = alt.Chart().encode(
        y=y, x="x:Q", color=colour, tooltip=tooltip,
        shape=alt.Shape("mark:N", scale=alt.Scale(domain=list(MARKS.values()), range=["circle", "diamond"]),
                        legend=style.legend(None, orient="bottom", direction="vertical")))
    filled = dots.transform_filter(alt.datum.mark == MARKS["estimate"]).mark_point(size=70, filled=True, opacity=1)
    hollow = dots.transform_filter(alt.datum.mark == MARKS["averaged"]).mark_point(size=90, filled=False, strokeWidth=2)
    minimum = alt.Chart().transform_filter(alt.datum.minimum > 0).mark_rule(strokeDash=[4, 3], color="#555555").encode(
        x="minimum:Q")
    chart = alt.layer(zero, bar, minimum, filled, hollow, data=style.inline_data(marks)).properties(
        width=style.WIDTH, height=alt.Step(18))
    facets = chart.facet(row=alt.Row("panel:N", sort=order, header=alt.Header(
        labelAngle=0, labelAlign="left", labelOrient="top", labelFontSize=style.LABEL_SIZE, title=None)))
    return facets.resolve_scale(x="independent", y="independent").properties(title=style.title(
        "The paper's claims on these runs: each difference the verdict read",
        ["dot: mean over the shared seeds of B − A (the claim: above 0); bar: the interval the verdict used "
         "(seeds: t; images: resampled; each end a one-sided 95 % bound); dashed: the minimum effect (of the span, in chains)",
         "3a-3c: at the shown threshold; diamond: the same difference under the seed-averaged profiles (sign check)"]))


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
