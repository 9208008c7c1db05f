"""The static export: the explorer for a chosen subset of images as one self-contained HTML file.

One Vega-Lite chart over named datasets (:func:`export_rows`) with the widget's controls as Vega params,
shown above the charts: ``split`` (test, CIFAR-10-NEG, training probe: each record set the runs have images
for), ``category`` (under the reference group) and the slider ``pick`` over the images that pass. The image
shown is ``ORDER[split][category][pick]``, a table computed here, so every view filters its rows to one image
id. No kernel, no network: the Vega JavaScript, the data and the images (PNG data URLs) are inline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import altair as alt
import numpy as np

from atlib import analysis, metrics
from atlib.plots import profiles, style
from atlib.explorer.charts import compile_spec, explorer_views, history_view
from atlib.explorer.profileset import ALL, SPLITS, ProfileSet, RunsLike

IMAGE_SCALE = 4  # nearest-neighbour upscaling: a 32x32 image shows as 128x128 sharp pixels
PICK = "pick"  # the field of every row saying which exported image it belongs to (an id over all splits)
SLIDER, SPLIT, CATEGORY, SHOWN = "position", "split", "category", "shown"  # the params: controls, and the image they pick
FILTERS = (ALL, *metrics.CATEGORIES)
PAGE_STYLE = """<style>
.vega-embed, .vega-embed .chart-wrapper { display: flex; flex-direction: column; }
.vega-embed .vega-bindings { order: -1; display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 4px 0 12px;
                             font: 14px sans-serif; }
.vega-embed .vega-bindings input[type=range] { width: 420px; }
</style>"""


def default_selection(data: ProfileSet, reference: int = 0, max_images: int = 240, per_category: int = 10) -> np.ndarray:
    """Record rows of examples of every category under ``reference`` plus the most non-monotone images,
    up to ``max_images``, ordered by non-monotonicity (most first)."""
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    picks = analysis.category_examples(data.groups[reference], per_category, data.threshold, split=data.split)
    examples = picks["index"].to_numpy()[:max_images]
    ranked = data.filtered_rows(reference, sort="non-monotonicity")
    rest = ranked[~np.isin(ranked, examples)][: max_images - len(examples)]
    chosen = np.concatenate([examples, rest])
    return chosen[np.argsort(-data.summaries[reference].categories.total_drop[chosen], kind="stable")]


def export_rows(data: ProfileSet, rows: Sequence[int], first: int = 0, group_offset: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The export's datasets for the images at record rows ``rows``: image ``rows[k]`` has id (``pick``)
    ``first + k``; group g is ``group_offset + g`` (each split's groups have their own ids, as their epochs and
    accuracies differ).

    ``profile`` and ``profile_groups``: :meth:`ProfileSet.chart_rows`; ``images``: ``pick``, ``url``
    (PNG data URL), ``caption``; ``table``: one line per (image, group): ``pick``, ``group``,
    ``category``, ``text``.
    """
    images, table = [], []
    for pick, row in enumerate(rows, start=first):
        images.append({PICK: pick, "url": profiles.png_data_url(data.image(row), IMAGE_SCALE), "caption": data.caption(row)})
        for g, line in enumerate(data.category_frame(row).to_dict("records")):
            table.append({PICK: pick, "group": group_offset + g, "category": line["category"],
                          "text": f"{line['group']}: {line['category']} · total drop {line['total drop']:.2f} · final: "
                                  f"{line['predicted']} ({'right' if line['correct'] else 'wrong'})"})
    datasets = data.chart_rows(rows)
    for name, values in datasets.items():
        datasets[name] = [{**r, **({PICK: r[PICK] + first} if PICK in r else {}), "group": r["group"] + group_offset}
                          for r in values]
    return {**datasets, "images": images, "table": table}


def export_order(data: ProfileSet, rows: Sequence[int], first: int, reference: int) -> list[list[int]]:
    """Per filter of :data:`FILTERS` (all, then each category under ``reference``): the ids of the images at
    ``rows`` (``first`` + position) that pass it, in the order of ``rows``."""
    names = data.summaries[reference].categories.names()[np.asarray(rows, dtype=np.int64)] if len(rows) else np.array([])
    return [[first + k for k in range(len(rows)) if c == ALL or names[k] == c] for c in FILTERS]


def export_chart(data: ProfileSet, order: dict[str, list[list[int]]], reference: int = 0) -> alt.VConcatChart:
    """The explorer as one Vega-Lite chart over the datasets of :func:`export_rows`, with the controls of the
    widget: ``order`` maps each exported split to :func:`export_order`'s lists of image ids."""
    splits = list(order)
    table_expr = json.dumps([order[s] for s in splits])
    chosen = f"{table_expr}[indexof({json.dumps(splits)}, {SPLIT})][indexof({json.dumps(list(FILTERS))}, {CATEGORY})]"
    split = alt.param(name=SPLIT, value=splits[0], bind=alt.binding_select(options=splits, name="images "))
    category = alt.param(name=CATEGORY, value=ALL, bind=alt.binding_select(
        options=list(FILTERS), name=f"category under {data.group_labels[reference]} "))
    most = max(len(ids) for lists in order.values() for ids in lists)
    slider = alt.param(name=SLIDER, value=0, bind=alt.binding_range(min=0, max=max(most - 1, 0), step=1, name="image "))
    shown = alt.param(name=SHOWN, expr=f"{SLIDER} < length({chosen}) ? {chosen}[{SLIDER}] : -1")
    here = f"datum.{PICK} == {SHOWN}"
    groups = len(data.groups)
    side = data.image_size * IMAGE_SCALE
    image = alt.Chart(alt.Data(name="images")).transform_filter(here).mark_image(
        width=side, height=side, align="left", baseline="top").encode(x=alt.value(0), y=alt.value(0), url="url:N").properties(
        width=side, height=side)
    status = alt.Chart({"values": [{}]}).transform_calculate(
        text=f"{SHOWN} < 0 ? 'no image at this position: ' + length({chosen}) + ' pass these filters' : "
             f"({SLIDER} + 1) + ' of ' + length({chosen}) + ' images'").mark_text(
        align="left", baseline="top", fontSize=13).encode(x=alt.value(0), y=alt.value(0), text="text:N").properties(width=600, height=18)
    caption = alt.Chart(alt.Data(name="images")).transform_filter(here).mark_text(
        align="left", baseline="top", fontSize=16, fontWeight="bold").encode(
        x=alt.value(0), y=alt.value(0), text="caption:N").properties(width=600, height=24)
    category_color = alt.Scale(domain=list(metrics.CATEGORIES), range=[style.CATEGORY_COLORS[c] for c in metrics.CATEGORIES])
    table = alt.Chart(alt.Data(name="table")).transform_filter(here).mark_text(align="left", fontSize=13).encode(
        x=alt.value(0), y=alt.Y("group:O", axis=None), text="text:N",
        color=alt.Color("category:N", scale=category_color, legend=None),
    ).properties(width=600, height=22 * groups, title=alt.TitleParams("Category under each group", anchor="start"))
    views = explorer_views(data, lambda g: f"{here} && datum.group % {groups} == {g}", here)
    if "probe" in splits and data.split != "probe":
        views.append(history_view(data, here))
    n_images = sum(len(lists[0]) for lists in order.values())
    return alt.vconcat(status, caption, alt.hconcat(image, table), *views).add_params(
        split, category, slider, shown).resolve_scale(color="independent").configure_view(stroke=None).properties(
        title=alt.TitleParams(f"Learning profiles of {n_images} images; the controls above pick one", anchor="start", fontSize=14))


def export_html(runs: RunsLike | ProfileSet, path: str | Path, dataset_indices: Sequence[int] | None = None,
                max_images: int = 240, per_category: int = 10, reference: int | str = 0, split: str = "test",
                threshold: float | None = None, images: np.ndarray | None = None) -> Path:
    """Write the explorer for a subset of images as one self-contained HTML file (no kernel, no network).

    ``dataset_indices``: the images to include, by dataset index (e.g. CIFAR-10 test index); by
    default :func:`default_selection` under ``reference`` (``per_category`` examples of each category
    and the most non-monotone images, ``max_images`` in all). Written atomically.
    """
    from atlib.store.io import atomic_path

    data = runs if isinstance(runs, ProfileSet) else ProfileSet.load(runs, split, threshold, images)
    ref = data.group_index(reference)
    rows = data.rows_of(dataset_indices) if dataset_indices is not None else default_selection(data, ref, max_images, per_category)
    if len(rows) == 0:
        raise ValueError(f"no images to export: pass dataset_indices=... ({data.index_name} values the runs evaluated)")
    sets = [(data, rows)] + [(other, default_selection(other, ref, max_images, per_category))
                             for other in other_splits(data) if other.images is not None]
    datasets: dict[str, list[dict[str, Any]]] = {}
    order, first = {}, 0
    for k, (part, part_rows) in enumerate(sets):
        for name, values in export_rows(part, part_rows, first, k * len(data.groups)).items():
            datasets.setdefault(name, []).extend(values)
        order[part.split] = export_order(part, part_rows, first, ref)
        first += len(part_rows)
    html = export_page(export_chart(data, order, ref), datasets)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def other_splits(data: ProfileSet) -> list[ProfileSet]:
    """The other record sets (:data:`SPLITS`) every group of ``data`` recorded, loaded as the widget's split control does."""
    return [ProfileSet.load(data.groups, s, data.threshold, require_images=False) for s in SPLITS
            if s != data.split and all(g.has(s) for g in data.groups)]


def export_page(chart: alt.TopLevelMixin, datasets: dict[str, list[dict[str, Any]]]) -> str:
    """A self-contained HTML page (Vega JavaScript inlined by vl-convert, SVG renderer) of ``chart``
    with ``datasets`` inline. The data skip Altair's validation, which would take minutes on them."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    compiled = compile_spec(chart)
    spec = {**compiled, "datasets": {**compiled.get("datasets", {}), **datasets}}
    html = vl_convert.vegalite_to_html(spec, vl_version=vl_version_for_vl_convert(), bundle=True, renderer="svg")
    head, end, body = html.rpartition("</head>")  # the last one: the bundled JavaScript holds the text too
    return head + PAGE_STYLE + "\n" + end + body  # the controls above the charts, the slider wide
