"""The explorer's views, shared by the widget and the static export: one Fig 6 panel per group, the entropy
chart and, for training-probe images, their presentation history.

Both read the datasets of :meth:`ProfileSet.chart_rows` by name, so a spec is compiled once and an
update (a slider move in the widget) only swaps its data.
"""

from __future__ import annotations

from typing import Any, Callable

import altair as alt
import numpy as np
import pandas as pd

from atlib import analysis
from atlib.plots import profiles, style
from atlib.explorer.profileset import HISTORY_DATA, ProfileSet

PANEL_WIDTH = style.WIDTH + 50  # a Fig 6 panel with its y axis
PANELS_BUDGET = 900  # the panels' rows stay within this, leaving room for the class and setting legends


def profile_panels(data: ProfileSet, where: Callable[[int], str]) -> list[alt.LayerChart]:
    """One :func:`atlib.plots.profiles.learning_profile_view` per group, titled by its label, over the rows passing ``where(group)``."""
    return [profiles.learning_profile_view(data.class_names, label, where=where(g), other=data.shows_other)
            for g, label in enumerate(data.group_labels)]


def entropy_view(data: ProfileSet, where: str | None = None) -> alt.Chart:
    """Entropy of one image's predictions over training, one line per group, from the ``profile`` rows passing ``where``."""
    base = alt.Chart(alt.Data(name=profiles.PROFILE_DATA))
    if where is not None:
        base = base.transform_filter(where)
    ids = pd.DataFrame([analysis.group_ids(g) for g in data.groups])
    top = float(np.log(len(data.class_names)))  # the entropy of a uniform prediction
    return base.transform_lookup(
        lookup="group", from_=alt.LookupData(alt.Data(name=profiles.PROFILE_GROUPS), key="group", fields=["epoch", "label"]),
    ).transform_flatten(["epoch", "entropy"]).mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("epoch:Q", title="Epoch", scale=alt.Scale(nice=False)),
        y=alt.Y("entropy:Q", title="Entropy of the prediction (nats)", scale=alt.Scale(domain=[0, top])),
        color=style.color_by_label(ids),
        tooltip=["label:N", "epoch:Q", alt.Tooltip("entropy:Q", format=".3f")],
    ).properties(width=style.WIDTH, height=style.HEIGHT * 0.6, title=alt.TitleParams(
        "Entropy over training", subtitle="mean over seeds of each model's prediction", anchor="start"))


def explorer_views(data: ProfileSet, where: Callable[[int], str], here: str | None = None) -> list[alt.TopLevelMixin]:
    """The explorer's rows of views: the Fig 6 panels (rows passing ``where(group)``; two to a row, so a whole view
    and its legends fit a 1,280 px notebook whatever the number of groups), the entropy chart and,
    for the training probe, the presentation history (both over the rows passing ``here``)."""
    views = [style.wrap(profile_panels(data, where), PANEL_WIDTH, spacing=20, budget=PANELS_BUDGET), entropy_view(data, here)]
    return views + ([history_view(data, here)] if data.split == "probe" else [])


def compile_spec(chart: Any) -> dict[str, Any]:
    """A chart's Vega-Lite spec, built without Altair's per-object validation (the slow part; the
    tests validate these charts). Datasets are left for the caller to add."""
    from altair.utils.schemapi import debug_mode

    with debug_mode(False):
        return chart.to_dict(validate=False)


def history_view(data: ProfileSet, where: str | None = None) -> alt.HConcatChart:
    """A training-probe image's presentation history: its training loss and margin at each epoch, one line
    per group, from the ``history`` rows (:meth:`ProfileSet.history_rows`) passing ``where``."""
    base = alt.Chart(alt.Data(name=HISTORY_DATA))
    if where is not None:
        base = base.transform_filter(where)
    base = base.transform_lookup(
        lookup="group", from_=alt.LookupData(alt.Data(name=profiles.PROFILE_GROUPS), key="group", fields=["label"]),
    ).transform_flatten(["epoch", "value"])
    ids = pd.DataFrame([analysis.group_ids(g) for g in data.groups])
    titles = {"loss": "Training loss", "margin": "Margin (true logit − largest other)"}
    return alt.hconcat(*[base.transform_filter(f"datum.field == '{name}'").mark_line(
        strokeWidth=2, point=alt.OverlayMarkDef(size=14)).encode(
        x=alt.X("epoch:Q", title="Epoch (presentation)", scale=alt.Scale(nice=False)),
        y=alt.Y("value:Q", title=title),
        color=style.color_by_label(ids),
        tooltip=["label:N", "epoch:Q", alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=style.WIDTH * 0.8, height=style.HEIGHT * 0.6, title=alt.TitleParams(
        title, subtitle="each epoch's presentation, mean over seeds (adversarial input under AT)", anchor="start"))
        for name, title in titles.items()])
