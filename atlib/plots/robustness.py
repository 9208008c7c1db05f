"""Fig 4, 5, 7/8 and the robustness side of the trade-off: CIFAR-10-NEG, CIFAR-C and robust accuracy."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from atlib.plots import style
from atlib.plots.curves import band_and_line
from atlib.setting import method_info, method_names

def neg_accuracy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 4: CIFAR-10-NEG accuracy over training, mean ± std over seeds, one line per run kind."""
    style.check_frame(df, [*style.IDS, "epoch", "mean", "std"], "neg_accuracy_curves")
    return band_and_line(df, "CIFAR-10-NEG accuracy", True, "CIFAR-10-NEG accuracy over training", "band: ±1 std over seeds")


def without_epsilon() -> str:
    """The Vega expression true for the methods without an ε (``attacked=False`` in :func:`atlib.setting.method_info`)."""
    return f"indexof({json.dumps([m for m in method_names() if not method_info(m).attacked])}, datum.method) >= 0"


def versus_epsilon_layers(df: pd.DataFrame, y_title: str, data: dict | None = None) -> alt.LayerChart:
    """Methods with an ε (AT, TRADES ...) as lines over ε with ±1 std bars; those without (NT) as dashed
    horizontal references with a std band. One colour per ``series``."""
    color = style.color_by_series(df)
    tooltip = ["label:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]
    spread = {"lo": "datum.mean - datum.std", "hi": "datum.mean + datum.std"}
    at = alt.Chart().transform_filter(f"!({without_epsilon()})").encode(
        x=alt.X("epsilon_255:O", axis=style.axis("Training ε", labelExpr="datum.value + '/255'", labelAngle=0)), color=color)
    nt = alt.Chart().transform_filter(without_epsilon()).encode(color=color)
    y = alt.Y("mean:Q", axis=style.axis(y_title, percent=True), scale=style.spread_domain(df, 0.0, 1.0))
    return alt.layer(
        nt.mark_rect(opacity=0.12).transform_calculate(**spread).encode(y="lo:Q", y2="hi:Q"),
        nt.mark_rule(strokeDash=[7, 4], strokeWidth=2).encode(y=y, tooltip=tooltip),
        at.mark_rule(strokeWidth=1.5).transform_calculate(**spread).encode(y="lo:Q", y2="hi:Q"),
        *style.line_and_points(at.encode(y=y, tooltip=tooltip)),
        data=alt.Undefined if data is None else data,
    )


def cifar_c_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Fig 5: mean CIFAR-C accuracy against the training ε for AT and AT + synth; NT and NT + synth as dashed references."""
    style.check_frame(df, [*style.IDS, "series", "mean", "std"], "cifar_c_summary")
    convention = {"seed_paper": "mean of 19 corruptions", "robustbench": "mean of 15 common corruptions"}
    sub = convention.get(df["convention"].iloc[0], "") if "convention" in df else ""
    subtitle = f"{sub}; NT dashed (band ±1 std)" if sub else "NT dashed (band ±1 std)"

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        return versus_epsilon_layers(df, "CIFAR-C accuracy", style.inline_data(rows)).properties(
            width=style.WIDTH, height=style.HEIGHT, title=style.title(f"{name}-C accuracy vs ε", subtitle))

    return style.per_dataset(df, build)


def cifar_c_corruptions_chart(df: pd.DataFrame, columns: int = 5) -> alt.TopLevelMixin:
    """Fig 7/8: the Fig 5 chart per corruption, one small panel each."""
    style.check_frame(df, [*style.IDS, "series", "corruption", "mean", "std"], "cifar_c_per_corruption")
    df = df.assign(corruption_title=lambda d: d["corruption"].str.replace("_", " ").str.capitalize())

    def build(rows: pd.DataFrame, name: str) -> alt.FacetChart:
        order = list(dict.fromkeys(rows["corruption_title"]))
        return versus_epsilon_layers(df, "Accuracy").properties(width=style.WIDTH * 0.45, height=style.HEIGHT * 0.6).facet(
            data=style.inline_data(rows), facet=alt.Facet("corruption_title:N", sort=order, header=style.header()), columns=columns,
        ).properties(title=style.title(f"{name}-C: accuracy per corruption vs ε", "NT dashed (band ±1 std)"))

    return style.per_dataset(df, build, vertical=True)


def robust_accuracy_chart(df: pd.DataFrame) -> alt.TopLevelMixin:
    """Robust (PGD, and AutoAttack where evaluated) and clean accuracy against the training ε: the robustness
    side of the trade-off."""
    style.check_frame(df, [*style.IDS, "series", "attack", "eval_epsilon_255", "robust_mean", "robust_std", "clean_mean", "clean_std"], "robust_summary")
    robust = df.assign(measure=[f"{a} ε={e:g}/255" for a, e in zip(df["attack"], df["eval_epsilon_255"])],
                       mean=df["robust_mean"], std=df["robust_std"])
    clean = df.drop_duplicates("label").assign(measure="clean", mean=lambda d: d["clean_mean"], std=lambda d: d["clean_std"])
    long = pd.concat([clean, robust], ignore_index=True)
    measures = list(dict.fromkeys(long["measure"]))
    series = style.series_color_scale(long)
    color = style.color_by_series(long)
    base = alt.Chart().encode(  # a narrow band per ε, the series side by side in it, so NT and NT + synth do not hide each other
        x=alt.X("epsilon_255:O", axis=style.eps_axis(), scale=alt.Scale(paddingInner=0.8, paddingOuter=0.4)),
        xOffset=alt.XOffset("series:N", scale=alt.Scale(domain=series.domain)), color=color)
    dashes = [[6, 3], [1, 0], [2, 2], [8, 3, 2, 3], [1, 3]]  # clean, then one per attack and budget
    dash = alt.StrokeDash("measure:N", sort=measures, legend=style.stroke_legend(style.LEGEND_TITLES["measure"]),
                          scale=alt.Scale(domain=measures, range=[dashes[i % len(dashes)] for i in range(len(measures))]))

    def build(rows: pd.DataFrame, name: str) -> alt.LayerChart:
        return alt.layer(
            base.mark_rule(strokeWidth=1.5).transform_calculate(lo="datum.mean - datum.std", hi="datum.mean + datum.std").encode(
                y="lo:Q", y2="hi:Q", detail="measure:N"),
            *style.line_and_points(base.encode(
                y=alt.Y("mean:Q", axis=style.axis("Accuracy", percent=True), scale=style.spread_domain(long, 0.0, 1.0)),
                tooltip=["label:N", "measure:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".4f"), "n_seeds:Q"]),
                strokeDash=dash),
            data=style.inline_data(rows),
        ).properties(width=style.WIDTH, height=style.HEIGHT, title=style.title(f"{name}: clean and robust accuracy vs ε"))

    return style.per_dataset(long, build)
