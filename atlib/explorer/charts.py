"""The explorer's views, shared by the widget and the static export: one Fig 6 panel per group and the entropy chart.

Both read the datasets of :meth:`ProfileSet.chart_rows` by name, so a spec is compiled once and an
update (a slider move in the widget) only swaps its data.
"""

from __future__ import annotations

from typing import Any, Callable

import altair as alt
import numpy as np
import pandas as pd

from atlib import analysis, plots
from atlib.explorer.profileset import ProfileSet


def profile_panels(data: ProfileSet, where: Callable[[int], str]) -> list[alt.LayerChart]:
    """One :func:`atlib.plots.learning_profile_view` per group, titled by its label, over the rows passing ``where(group)``."""
    return [plots.learning_profile_view(data.class_names, label, where=where(g), other=data.shows_other)
            for g, label in enumerate(data.group_labels)]


def entropy_view(data: ProfileSet, where: str | None = None) -> alt.Chart:
    """Entropy of one image's predictions over training, one line per group, from the ``profile`` rows passing ``where``."""
    base = alt.Chart(alt.Data(name=plots.PROFILE_DATA))
    if where is not None:
        base = base.transform_filter(where)
    ids = pd.DataFrame([analysis.group_ids(g) for g in data.groups])
    top = float(np.log(len(data.class_names)))  # the entropy of a uniform prediction
    return base.transform_lookup(
        lookup="group", from_=alt.LookupData(alt.Data(name=plots.PROFILE_GROUPS), key="group", fields=["epoch", "label"]),
    ).transform_flatten(["epoch", "entropy"]).mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("epoch:Q", title="Epoch", scale=alt.Scale(nice=False)),
        y=alt.Y("entropy:Q", title="Entropy of the prediction (nats)", scale=alt.Scale(domain=[0, top])),
        color=alt.Color("label:N", scale=plots.color_scale(ids), legend=alt.Legend(title="Training")),
        tooltip=["label:N", "epoch:Q", alt.Tooltip("entropy:Q", format=".3f")],
    ).properties(width=plots.WIDTH, height=plots.HEIGHT * 0.6, title=alt.TitleParams(
        "Entropy over training", subtitle="mean over seeds of each model's prediction", anchor="start"))


def compile_spec(chart: Any) -> dict[str, Any]:
    """A chart's Vega-Lite spec, built without Altair's per-object validation (the slow part; the
    tests validate these charts). Datasets are left for the caller to add."""
    from altair.utils.schemapi import debug_mode

    with debug_mode(False):
        return chart.to_dict(validate=False)
