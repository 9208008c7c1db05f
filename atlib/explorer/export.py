"""The static export: the explorer for a chosen subset of images as one self-contained HTML file.

One Vega-Lite chart over named datasets (:func:`export_rows`) with a Vega slider param ``pick``;
every view filters its rows to the picked image. No kernel, no network: the Vega JavaScript, the
data and the images (PNG data URLs) are inline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import altair as alt
import numpy as np

from atlib import analysis, metrics
from atlib.plots import profiles, style
from atlib.explorer.charts import compile_spec, explorer_views
from atlib.explorer.profileset import ProfileSet, RunsLike

IMAGE_SCALE = 4  # 32x32 images shown as 128x128 sharp pixels
PICK = "pick"  # the slider's param, and the field of every row saying which picked image it belongs to


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


def export_rows(data: ProfileSet, rows: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
    """The export's datasets for the images at record rows ``rows`` (the slider's ``pick`` k shows ``rows[k]``).

    ``profile`` and ``profile_groups``: :meth:`ProfileSet.chart_rows`; ``images``: ``pick``, ``url``
    (PNG data URL), ``caption``; ``table``: one line per (image, group): ``pick``, ``group``,
    ``category``, ``text``.
    """
    images, table = [], []
    for pick, row in enumerate(rows):
        images.append({PICK: pick, "url": profiles.png_data_url(data.image(row), IMAGE_SCALE),
                       "caption": f"{data.caption(row)} · {pick + 1} of {len(rows)}"})
        for g, line in enumerate(data.category_frame(row).to_dict("records")):
            table.append({PICK: pick, "group": g, "category": line["category"],
                          "text": f"{line['group']}: {line['category']} · total drop {line['total drop']:.2f} · final: "
                                  f"{line['predicted']} ({'right' if line['correct'] else 'wrong'})"})
    return {**data.chart_rows(rows), "images": images, "table": table}


def export_chart(data: ProfileSet, n_images: int) -> alt.VConcatChart:
    """The explorer as one Vega-Lite chart over the named datasets of :func:`export_rows` for ``n_images`` images."""
    pick = alt.param(name=PICK, value=0, bind=alt.binding_range(min=0, max=n_images - 1, step=1, name="image "))
    here = f"datum.{PICK} == {PICK}"
    side = 32 * IMAGE_SCALE
    image = alt.Chart(alt.Data(name="images")).transform_filter(here).mark_image(
        width=side, height=side, align="left", baseline="top").encode(x=alt.value(0), y=alt.value(0), url="url:N").properties(
        width=side, height=side)
    caption = alt.Chart(alt.Data(name="images")).transform_filter(here).mark_text(
        align="left", baseline="top", fontSize=16, fontWeight="bold").encode(
        x=alt.value(0), y=alt.value(0), text="caption:N").properties(width=600, height=24)
    category_color = alt.Scale(domain=list(metrics.CATEGORIES), range=[style.CATEGORY_COLORS[c] for c in metrics.CATEGORIES])
    table = alt.Chart(alt.Data(name="table")).transform_filter(here).mark_text(align="left", fontSize=13).encode(
        x=alt.value(0), y=alt.Y("group:O", axis=None), text="text:N",
        color=alt.Color("category:N", scale=category_color, legend=None),
    ).properties(width=600, height=22 * len(data.groups), title=alt.TitleParams("Category under each group", anchor="start"))
    views = explorer_views(data, lambda g: f"{here} && datum.group == {g}", here)
    return alt.vconcat(caption, alt.hconcat(image, table), *views).add_params(
        pick).resolve_scale(color="independent").configure_view(stroke=None).properties(
        title=alt.TitleParams(f"Learning profiles of {n_images} images ({data.split}); the slider at the bottom picks one",
                              anchor="start", fontSize=14))


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
    html = export_page(export_chart(data, len(rows)), export_rows(data, rows))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def export_page(chart: alt.TopLevelMixin, datasets: dict[str, list[dict[str, Any]]]) -> str:
    """A self-contained HTML page (Vega JavaScript inlined by vl-convert, SVG renderer) of ``chart``
    with ``datasets`` inline. The data skip Altair's validation, which would take minutes on them."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    spec = {**compile_spec(chart), "datasets": datasets}
    return vl_convert.vegalite_to_html(spec, vl_version=vl_version_for_vl_convert(), bundle=True, renderer="svg")
