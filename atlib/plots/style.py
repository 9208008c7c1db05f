"""The one style every atlib chart is drawn with, and its rules (docs/figures.md).

Public on purpose: the figure modules of :mod:`atlib.plots`, the explorer and any new chart build on these
names rather than on private ones. The rules they carry:

- settings sort and colour as :mod:`atlib.setting` says: each method its colour family
  (:func:`atlib.setting.ramp`), the same colour for the same kind of run in every figure
  (:func:`label_color`); charts against ε colour each ``series`` (the label without ε) with the mid tone
  of its family;
- one legend title per concept (:data:`LEGEND_TITLES`): ``Setting`` for a run kind, ``Point category``,
  ``Class``, ``Training data``, ``Measure``;
- one unit per kind of quantity: accuracies and shares are fractions shown as % (:func:`axis` with
  ``percent=True``), changes of them in pp;
- every figure states its scale in its subtitle (:func:`scale_lines`, added by :func:`with_scale`):
  dataset, model, training images, epochs, seeds, record points, and the threshold where shares depend on it;
- axes never clip an interval (:func:`interval_domain`) and grids wrap at :data:`MAX_WIDTH`;
- data travels inline as plain records (:func:`inline_data`), so no chart depends on Altair's 5,000-row
  limit, and charts compose because styling lives on axes, legends and titles, not in top-level ``config``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import altair as alt
import numpy as np
import pandas as pd

from atlib.datasets import title as dataset_title
from atlib.metrics import CATEGORIES
from atlib.setting import kind_key, mix, ramp
from atlib.store.io import atomic_path

WIDTH, HEIGHT = 360, 240
MAX_WIDTH = 1200  # a figure, legend included, fits this many pixels: a 1,280 px notebook or slide
PANELS_WIDTH = 940  # grids of panels wrap here, leaving room for a legend on the right
LABEL_SIZE, TITLE_SIZE, HEADING_SIZE = 12, 13, 15
CATEGORY_COLORS = {"easy": "#1b9e77", "hard": "#525252", "monotone": "#377eb8", "non-monotone": "#ff7f00"}
TWIN_LIGHTEN = 0.35  # each further label of one colour (AT and AT + AWP at one ε) is this much lighter
EPS_LABEL_EXPR = "datum.value == 0 ? 'NT' : datum.value + '/255'"
TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000}  # a full training set, for runs without train_subset
IDS = ("label", "dataset", "method", "epsilon_255", "synthetic")
NOT_STATED = "not stated"  # a figure whose values do not depend on the non-monotonicity threshold
LEGEND_TITLES = {"label": "Setting", "series": "Setting", "category": "Point category", "class": "Class",
                 "data": "Training data", "measure": "Measure", "verdict": "Verdict"}


# ----------------------------------------------------------------------------- colours


def label_color(method: str, epsilon_255: float, synthetic: bool) -> str:
    """The colour of one kind of run, the same in every figure: its family's (:func:`atlib.setting.ramp`)
    at ε, log-spaced over the stops from 1/255 to 16/255."""
    stops = ramp(method, synthetic)
    if len(stops) == 1:
        return stops[0]
    pos = float(np.clip(math.log2(max(epsilon_255, 1e-9)) / 4.0, 0.0, 1.0)) * (len(stops) - 1)  # log2(16) = 4
    lo = int(min(pos, len(stops) - 2))
    return mix(stops[lo], stops[lo + 1], pos - lo)


def series_color(method: str, synthetic: bool) -> str:
    """The colour of a ``series`` (a setting but its ε) in charts against ε: the mid tone of its family."""
    stops = ramp(method, synthetic)
    return stops[min(1, len(stops) - 1)]


def kinds(df: pd.DataFrame, by: str = "label") -> pd.DataFrame:
    """One row per value of ``by`` in the settings' order (:func:`atlib.setting.kind_key`: NT first, then
    AT by ε, original data first, then the other methods); ties keep the frame's order, which
    :func:`atlib.store.runs.group_seeds` gave. A ``series`` has no ε: it is ordered by method and data."""
    rows = df.drop_duplicates(by)
    eps = rows["epsilon_255"] if by == "label" else [0.0] * len(rows)
    keys = [kind_key(m, e, s) for m, e, s in zip(rows["method"], eps, rows["synthetic"])]
    return rows.iloc[sorted(range(len(keys)), key=keys.__getitem__)]


def _scale(domain: Sequence[str], colors: Sequence[str]) -> alt.Scale:
    """A colour scale; a colour already taken (variants of one family at one ε, e.g. AT and AT + AWP)
    is lightened by :data:`TWIN_LIGHTEN` per earlier taker, so no two entries look alike."""
    taken: dict[str, int] = {}
    shown = []
    for color in colors:
        twins = taken.get(color, 0)
        taken[color] = twins + 1
        shown.append(mix(color, "#ffffff", min(TWIN_LIGHTEN * twins, 0.8)))
    return alt.Scale(domain=list(domain), range=shown)


def color_scale(df: pd.DataFrame) -> alt.Scale:
    """Colour scale over the frame's ``label`` values, each coloured by :func:`label_color`."""
    rows = kinds(df)
    return _scale(rows["label"], [label_color(m, e, s) for m, e, s in zip(rows["method"], rows["epsilon_255"], rows["synthetic"])])


def series_color_scale(df: pd.DataFrame) -> alt.Scale:
    """Colour scale over the frame's ``series`` values (NT, NT + synth, AT, AT + synth, ...), each by :func:`series_color`."""
    rows = kinds(df, "series")
    return _scale(rows["series"], [series_color(m, s) for m, s in zip(rows["method"], rows["synthetic"])])


# ----------------------------------------------------------------------------- axes, legends, titles


def axis(title: str | None, percent: bool = False, **kwargs) -> alt.Axis:
    """Axis with paper-sized fonts; end labels centred on their ticks (flushed ones collide with their neighbours).
    ``percent``: the values are fractions shown as % (the one unit of accuracies and shares)."""
    options = {"labelFlush": False, **({"format": ".0%"} if percent else {}), **kwargs}
    return alt.Axis(title=title, labelFontSize=LABEL_SIZE, titleFontSize=TITLE_SIZE, **options)


def eps_axis() -> alt.Axis:
    """The training-ε axis of charts against ε (ordinal; NT at ε=0)."""
    return axis("Training ε", labelExpr=EPS_LABEL_EXPR, labelAngle=0)


def legend(title: str | None, **kwargs) -> alt.Legend:
    """A legend with paper-sized fonts; ``title`` should be one of :data:`LEGEND_TITLES` for the concepts listed there."""
    return alt.Legend(title=title, labelFontSize=LABEL_SIZE, titleFontSize=TITLE_SIZE, labelLimit=260, symbolOpacity=1, **kwargs)


def title(text: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    """A figure or panel title, left-aligned, with an optional subtitle (a string or a list of lines)."""
    return alt.TitleParams(text=text, subtitle=subtitle or "", fontSize=HEADING_SIZE, subtitleFontSize=LABEL_SIZE, anchor="start")


def header() -> alt.Header:
    """Facet headers at title size, without the field name."""
    return alt.Header(labelFontSize=TITLE_SIZE, titleFontSize=TITLE_SIZE, title=None)


def color_by_label(df: pd.DataFrame) -> alt.Color:
    """Colour by setting (``label``), with the setting's own colour (:func:`color_scale`)."""
    return alt.Color("label:N", scale=color_scale(df), legend=legend(LEGEND_TITLES["label"]))


def color_by_series(df: pd.DataFrame) -> alt.Color:
    """Colour by ``series`` (a setting but its ε) in charts against ε."""
    return alt.Color("series:N", scale=series_color_scale(df), legend=legend(LEGEND_TITLES["series"]))


def category_color(show_legend: bool = True) -> alt.Color:
    """Colour by point category (easy, hard, monotone, non-monotone), the same in every figure."""
    scale = alt.Scale(domain=list(CATEGORIES), range=[CATEGORY_COLORS[c] for c in CATEGORIES])
    return alt.Color("category:N", scale=scale, legend=legend(LEGEND_TITLES["category"]) if show_legend else None)


def stroke_legend(title_text: str) -> alt.Legend:
    """A legend of line samples, for strokeDash encodings."""
    return legend(title_text, symbolType="stroke", symbolStrokeWidth=2, symbolStrokeColor="#333")


def dash_by_data(df: pd.DataFrame) -> dict:
    """``strokeDash`` by training data, only when the frame mixes original and synthesized runs."""
    if df["synthetic"].nunique() < 2:
        return {}
    return {"strokeDash": alt.StrokeDash("data:N", legend=stroke_legend(LEGEND_TITLES["data"]))}


def line_and_points(base: alt.Chart, **line_channels) -> list[alt.Chart]:
    """A line layer and a separate point layer: points drawn by the line mark itself (``point=True``)
    would turn the strokeDash legend's stroke symbols into invisible filled circles."""
    return [base.mark_line(strokeWidth=2).encode(**line_channels), base.mark_point(filled=True, size=50, opacity=1)]


def interval_domain(low: Iterable[float], high: Iterable[float], floor: float | None = None,
                    ceiling: float | None = None, pad: float = 0.05) -> list[float]:
    """A domain holding every interval [low, high], so an axis never clips an error bar or band: their
    range padded by ``pad`` of its span, the padding (never an interval) cut at the quantity's own bounds
    ``floor`` and ``ceiling`` (0 and 1 for an accuracy)."""
    lo = np.asarray(list(low), dtype=float)
    hi = np.asarray(list(high), dtype=float)
    values = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
    if not len(values):
        return [0.0 if floor is None else floor, 1.0 if ceiling is None else ceiling]
    a, b = float(values.min()), float(values.max())
    span = max(b - a, 1e-6)
    padded_a, padded_b = a - pad * span, b + pad * span
    if floor is not None:
        padded_a = min(a, max(padded_a, floor))
    if ceiling is not None:
        padded_b = max(b, min(padded_b, ceiling))
    return [padded_a, padded_b]


def spread_domain(df: pd.DataFrame, floor: float | None = None, ceiling: float | None = None) -> alt.Scale:
    """A y scale over ``mean`` ± ``std`` (std 0 where missing) that holds every such interval (:func:`interval_domain`)."""
    std = df["std"].fillna(0.0) if "std" in df else 0.0
    return alt.Scale(domain=interval_domain(df["mean"] - std, df["mean"] + std, floor, ceiling), zero=False, nice=False)


def outline_rows(df: pd.DataFrame, by: Sequence[str] = ("label",)) -> pd.DataFrame:
    """Histogram rows (``bin_start``, ``bin_end``, ``density``) for :func:`outline_histogram`: each histogram
    (one per value of ``by``) gains a closing row at its last bin's end, so its step line spans every bin."""
    keys = [k for k in by if k in df.columns]
    ends = df.sort_values("bin_start").groupby(keys, sort=False).tail(1).assign(bin_start=lambda d: d["bin_end"])
    return pd.concat([df, ends], ignore_index=True).sort_values([*keys, "bin_start"], kind="stable")


def outline_histogram(x_title: str, color: alt.Color, data: Any = alt.Undefined) -> alt.Chart:
    """Histograms of several settings as outlines (a step line per setting), never as blended translucent
    fills whose overlaps make colours the legend does not have. Reads :func:`outline_rows`."""
    return alt.Chart(data).mark_line(interpolate="step-after", strokeWidth=2).encode(
        x=alt.X("bin_start:Q", axis=axis(x_title), scale=alt.Scale(nice=False)),
        y=alt.Y("density:Q", axis=axis("Density")), color=color,
        tooltip=["label:N", alt.Tooltip("bin_start:Q", format=".3f", title="bin from"), alt.Tooltip("density:Q", format=".3f")])


# ----------------------------------------------------------------------------- data and layout


def inline_data(df: pd.DataFrame) -> dict:
    """The frame as inline JSON records (NaN as null): immune to Altair's row limit and data transformers.

    A plain ``{"values": ...}`` dict rather than ``alt.InlineData``, whose constructor validates every
    record against the schema (seconds for a 12,000-row learning profile).
    """
    return {"values": json.loads(df.to_json(orient="records", double_precision=15))}


def check_frame(df: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Refuse a frame that lacks ``columns`` or is empty, naming the analysis function that builds it."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}; build it with atlib.analysis.{source}")
    if df.empty:
        raise ValueError(f"nothing to plot: the {source} frame is empty (see atlib.analysis.describe_missing)")


def per_dataset(df: pd.DataFrame, build: Callable[[pd.DataFrame, str], alt.TopLevelMixin],
                vertical: bool = False) -> alt.TopLevelMixin:
    """One panel per dataset, built by ``build(rows, dataset_title)``, side by side (or stacked)."""
    panels = [build(rows, dataset_title(name)) for name, rows in df.groupby("dataset", sort=True)]
    if len(panels) == 1:
        return panels[0]
    joined = alt.vconcat(*panels) if vertical else alt.hconcat(*panels)
    return joined.resolve_scale(color="shared", strokeDash="shared")


def wrap(cells: Sequence[alt.TopLevelMixin], cell_width: float, spacing: float = 40,
         budget: float = PANELS_WIDTH) -> alt.TopLevelMixin:
    """Cells side by side, in as many rows as it takes to stay within ``budget`` pixels (:data:`PANELS_WIDTH`)."""
    per_row = max(1, int((budget + spacing) // (cell_width + spacing)))
    rows = [alt.hconcat(*cells[k:k + per_row]) for k in range(0, len(cells), per_row)]
    return rows[0] if len(rows) == 1 else alt.vconcat(*rows)


def wrap_columns(cell_width: float, count: int, spacing: float = 40, budget: float = PANELS_WIDTH) -> int:
    """How many facet columns of ``cell_width`` fit ``budget`` pixels (at most ``count``)."""
    return max(1, min(count, int((budget + spacing) // (cell_width + spacing))))


# ----------------------------------------------------------------------------- the scale every figure states


@dataclass(frozen=True)
class Scale:
    """What a figure was computed from, stated in its subtitle: which runs, how large, how many seeds."""

    dataset: str
    models: tuple[str, ...]
    train_images: tuple[int, ...]
    epochs: tuple[float, ...]
    seeds: tuple[int, ...]
    record_points: tuple[int, ...]
    threshold: str | None = None

    def lines(self) -> list[str]:
        """The subtitle lines: one with the runs' scale, one with the threshold when there is one."""
        def span(values: Sequence[Any], fmt: Callable[[Any], str]) -> str:
            shown = sorted(set(values))
            return fmt(shown[0]) if len(shown) == 1 else f"{fmt(shown[0])}–{fmt(shown[-1])}"

        parts = [self.dataset, "/".join(self.models) or "?",
                 f"{span(self.train_images, lambda n: f'{n:,}')} training images" if self.train_images else "training images ?",
                 f"{span(self.epochs, lambda e: f'{e:g}')} epochs" if self.epochs else "epochs ?",
                 f"{span(self.seeds, str)} seed{'s' if max(self.seeds, default=1) != 1 else ''} per setting",
                 f"{span(self.record_points, str)} record points"]
        return [", ".join(parts)] + ([self.threshold] if self.threshold else [])


def scale_of(groups: Sequence[Any], threshold: float | str | None = NOT_STATED) -> Scale:
    """The :class:`Scale` of run groups (:class:`atlib.store.runs.RunGroup`): their datasets, models, training
    images, epochs, seeds per setting and record points. ``threshold``: left at :data:`NOT_STATED` for figures
    whose values do not depend on the non-monotonicity threshold; None for each group's default; a number for
    the value used; other text is stated as it is (e.g. a range)."""
    from atlib.metrics import default_threshold

    if not groups:
        raise ValueError("no run groups: the scale of a figure comes from the runs it was drawn from")
    configs = [g.config for g in groups]
    points = [g.num_points for g in groups]
    stated = None
    if threshold is None:
        values = sorted({round(default_threshold(p), 4) for p in points if p >= 2})
        stated = "non-monotonicity threshold: " + ", ".join(f"{v:g}" for v in values) + " (default for the record points)"
    elif isinstance(threshold, str):
        stated = None if threshold == NOT_STATED else threshold
    else:
        stated = f"non-monotonicity threshold: {float(threshold):g}"
    return Scale(
        dataset=", ".join(dict.fromkeys(dataset_title(c.dataset) for c in configs)),
        models=tuple(dict.fromkeys(str(c.model) for c in configs)),
        train_images=tuple(c.train_subset or TRAIN_IMAGES[c.dataset] for c in configs if c.train_subset or c.dataset in TRAIN_IMAGES),
        epochs=tuple(float(c.epochs) for c in configs),
        seeds=tuple(len(g.runs) for g in groups),
        record_points=tuple(points),
        threshold=stated)


def with_scale(chart: alt.TopLevelMixin, scale: Scale | Sequence[str]) -> alt.TopLevelMixin:
    """The chart with its scale (:meth:`Scale.lines`) appended to its top-level subtitle (a title is
    made of the first line where the chart has none)."""
    lines = scale.lines() if isinstance(scale, Scale) else list(scale)
    current = chart.title if chart.title is not alt.Undefined else None
    if isinstance(current, str):
        current = alt.TitleParams(text=current)
    if current is None:
        return chart.properties(title=alt.TitleParams(text=lines[0], subtitle=lines[1:] or "", fontSize=LABEL_SIZE,
                                                      fontWeight="normal", subtitleFontSize=LABEL_SIZE, anchor="start"))
    sub = current.subtitle if current.subtitle is not alt.Undefined else ""
    sub = [sub] if isinstance(sub, str) else list(sub)
    params = current.to_dict(validate=False)
    params["subtitle"] = [s for s in sub if s] + lines
    params.setdefault("subtitleFontSize", LABEL_SIZE)
    return chart.properties(title=alt.TitleParams(**params))


# ----------------------------------------------------------------------------- output


def save_chart(chart: alt.TopLevelMixin, stem: str | Path, scale_factor: float = 2.0) -> list[Path]:
    """Write ``<stem>.html`` (self-contained: the Vega JS is inlined, so it opens offline) and
    ``<stem>.png`` (rendered by vl-convert at ``scale_factor``), each atomically. Returns both paths."""
    stem = Path(stem)
    html, png = stem.parent / f"{stem.name}.html", stem.parent / f"{stem.name}.png"
    with atomic_path(html) as tmp:
        chart.save(str(tmp), format="html", inline=True)
    with atomic_path(png) as tmp:
        chart.save(str(tmp), format="png", scale_factor=scale_factor)
    return [html, png]
