"""Notebook 02's Fig 6 gallery: random examples of each point category of one group, image beside learning profile."""

from __future__ import annotations

import altair as alt
import pandas as pd

from atlib import analysis
from atlib.plots import profiles, style
from atlib.explorer.profileset import ProfileSet

IMAGE_SCALE = 3


def category_examples(data: ProfileSet, per_category: int = 2, seed: int = 0, reference: int | str = 0) -> pd.DataFrame:
    """Up to ``per_category`` random images of each category under the ``reference`` group
    (:func:`atlib.analysis.category_examples`, same picks for the same ``seed``).

    Columns: ``category``, ``class``, ``record row``, the dataset index under its name
    (:attr:`ProfileSet.index_name`, e.g. ``CIFAR-10 test index``) and ``total drop``.
    """
    if data.split != "test":
        raise ValueError(f"the category gallery shows test images; this ProfileSet holds {data.split!r} records")
    picks = analysis.category_examples(data.groups[data.group_index(reference)], per_category, data.threshold, seed)
    rows = picks["index"].to_numpy()
    return pd.DataFrame({"category": picks["category"].to_numpy(), "class": picks["class_name"].to_numpy(),
                         "record row": rows, data.index_name: data.dataset_index[rows],
                         "total drop": picks["total_drop"].to_numpy()})


def category_gallery_chart(data: ProfileSet, examples: pd.DataFrame, reference: int | str = 0) -> alt.VConcatChart:
    """One line per category: each example's image (when ``data`` has images) beside its learning
    profile under the ``reference`` group, titled with its category, class and both of its numbers; the
    figure's title names the group, and lines wrap to fit :data:`atlib.plots.style.MAX_WIDTH` with the legend."""
    rows = examples["record row"].to_list()
    datasets = data.chart_rows(rows)
    g = data.group_index(reference)
    profile = {"values": [r for r in datasets[profiles.PROFILE_DATA] if r["group"] == g]}
    groups = {"values": datasets[profiles.PROFILE_GROUPS]}
    lines: dict[str, list[alt.TopLevelMixin]] = {}
    for pick, (row, category, name) in enumerate(zip(rows, examples["category"], examples["class"])):
        chart = profiles.learning_profile_view(
            data.class_names, f"{category}: {name}", [data.image_name(row), profiles.PROFILE_LEGEND],
            where=f"datum.pick == {pick}", data=profile, groups=groups, other=data.shows_other)
        if data.images is not None:
            chart = alt.hconcat(profiles.image_chart(data.images[row], IMAGE_SCALE), chart)
        lines.setdefault(category, []).append(chart)
    width = style.WIDTH + (IMAGE_SCALE * data.images.shape[2] + 20 if data.images is not None else 0)
    budget = style.MAX_WIDTH - 120  # the class legend takes about 120 px
    return alt.vconcat(*[style.wrap(cells, width, budget=budget) for cells in lines.values()]).properties(title=style.title(
        f"Learning profiles under {data.group_labels[g]}", "examples of each point category, drawn at random"))
