"""Fig 2, 3 and the threshold sweep: shares of the point categories (easy, hard, monotone, non-monotone)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from atlib.metrics import CATEGORIES, DEFAULT_THRESHOLD_PER_STEP
from atlib.plots import style


def category_distribution_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 2: share of test points per category (bars), one panel per dataset and run kind."""
    style.check_frame(df, [*style.IDS, "category", "percentage"], "category_table")

    def build(rows: pd.DataFrame, name: str) -> alt.TopLevelMixin:
        base = alt.Chart().encode(x=alt.X("category:N", sort=list(CATEGORIES), axis=style.axis(None, labelAngle=-30)),
                                  y=alt.Y("percentage:Q", axis=style.axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])))
        bars = base.mark_bar().encode(color=style.category_color(show_legend=False), tooltip=["label:N", "category:N", "count:Q",
                                                                                     alt.Tooltip("percentage:Q", format=".1f")])
        text = base.mark_text(dy=-7, fontSize=style.LABEL_SIZE).encode(text=alt.Text("percentage:Q", format=".1f"))
        labels = list(style.kinds(rows)["label"])
        if len(labels) == 1:
            return alt.layer(bars, text, data=style.inline_data(rows)).properties(
                width=style.WIDTH * 0.8, height=style.HEIGHT, title=style.title(f"{name}: point categories", labels[0]))
        return alt.layer(bars, text, data=style.inline_data(rows)).properties(width=style.WIDTH * 0.6, height=style.HEIGHT).facet(
            facet=alt.Facet("label:N", sort=labels, header=style.header()), columns=style.wrap_columns(style.WIDTH * 0.6, len(labels)),
        ).properties(title=style.title(f"{name}: point categories"))

    return style.per_dataset(df, build, vertical=df["label"].nunique() > 1)


def categories_vs_epsilon_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 3: share of each category against the training ε (NT at ε=0), one line per category."""
    style.check_frame(df, [*style.IDS, "category", "percentage"], "category_table")

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        base = alt.Chart().encode(
            x=alt.X("epsilon_255:O", axis=style.eps_axis()),
            y=alt.Y("percentage:Q", axis=style.axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
            color=style.category_color(), tooltip=["label:N", "category:N", alt.Tooltip("percentage:Q", format=".1f")])
        return alt.layer(*style.line_and_points(base, **style.dash_by_data(df)), data=style.inline_data(rows)).properties(
            width=style.WIDTH, height=style.HEIGHT, title=style.title(f"{name}: point categories vs attack strength"))

    return style.per_dataset(df, build)


def threshold_sweep_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Category shares against the non-monotonicity threshold; each group's default threshold (column ``default``) marked."""
    style.check_frame(df, ["threshold", "category", "percentage", "default"], "threshold_sweep")
    base = alt.Chart().encode(
        x=alt.X("threshold:Q", axis=style.axis("Non-monotonicity threshold (total confidence drop)")),
        y=alt.Y("percentage:Q", axis=style.axis("Test points (%)"), scale=alt.Scale(domain=[0, 100])),
        color=style.category_color(), tooltip=["category:N", "threshold:Q", alt.Tooltip("percentage:Q", format=".1f")])
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="#888").encode(
        x="min(default):Q", tooltip=[alt.Tooltip("min(default):Q", title="default threshold", format=".3g")])
    chart = alt.layer(*style.line_and_points(base), rule, data=style.inline_data(df)).properties(width=style.WIDTH, height=style.HEIGHT)
    subtitle = f"dashed: the default threshold, {DEFAULT_THRESHOLD_PER_STEP:g} per step between record points"
    if "label" in df and df["label"].nunique() > 1:
        labels = list(dict.fromkeys(df["label"]))
        return chart.facet(facet=alt.Facet("label:N", sort=labels, header=style.header()),
                           columns=style.wrap_columns(style.WIDTH, len(labels))).properties(
            title=style.title("Point categories vs threshold", subtitle))
    label = f" ({df['label'].iloc[0]})" if "label" in df else ""
    return chart.properties(title=style.title(f"Point categories vs threshold{label}", subtitle))
