"""Every chart of the demo's notebooks, built from fake runs laid out as the demo lays them out
(tests/demoruns.py), checked against the figure rules of atlib.plots.style (docs/figures.md):

- its subtitle states its scale (dataset, model, training images, epochs, seeds, record points) and, where
  its shares depend on it, the non-monotonicity threshold;
- no axis clips an interval: an explicit domain contains every interval (mean ± std, min-max) drawn on it;
- rendered, it is at most 1,280 px wide.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterator

import altair as alt
import pandas as pd
import pytest

from atlib import analysis, metrics, plots
from atlib.claims import claims_report
from atlib.dynamics import frames
from atlib.explorer import ProfileSet, category_examples, category_gallery_chart
from atlib.notebook_helpers import figure
from atlib.plots.style import NOT_STATED
from atlib.store.runs import group_seeds, load_runs
from demoruns import make_demo_runs

REPO = Path(__file__).resolve().parents[1]
MAX_RENDERED_WIDTH = 1280


FIGURES = ("training_curves", "fig1a_entropy_distribution", "fig1b_mean_entropy", "fig2_categories_nt",
           "fig3_categories_vs_epsilon", "threshold_sweep", "fig6_learning_profiles", "fig4_cifar10_neg_accuracy",
           "test_vs_neg_accuracy", "fig5_cifar_c_seed_paper", "fig5_cifar_c_robustbench", "fig7_cifar10_c_per_corruption",
           "robust_accuracy_vs_epsilon", "claims", "claims_thresholds", "forgetting_histogram", "forgetting_vs_epsilon",
           "data_maps", "aum_distribution", "el2n_distribution", "probe_categories_vs_forgetting", "probe_rank_correlations")


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> list:
    return group_seeds(load_runs(make_demo_runs(tmp_path_factory.mktemp("demo"))))


@pytest.fixture(scope="module")
def charts(groups: list) -> dict[str, tuple[dict, Any]]:
    """Figure name -> (its Vega-Lite spec, the threshold it states), each built once."""
    return {name: (figure(build, frame, drawn, threshold).to_dict(), threshold)
            for name, build, frame, drawn, threshold in demo_figures(groups)}


def demo_figures(groups: list) -> Iterator[tuple[str, Callable[[Any], Any], Any, list, Any]]:
    """(figure name, builder, frame, groups drawn, threshold) for every figure the demo's notebooks save, built
    as the notebooks build them."""
    original = [g for g in groups if not g.config.uses_synthetic]
    yield "training_curves", plots.training_curves_chart, analysis.training_curves(groups[0].runs[0]), [groups[0]], NOT_STATED
    yield "fig1a_entropy_distribution", plots.entropy_distribution_chart, analysis.entropy_distribution(original), original, NOT_STATED
    yield "fig1b_mean_entropy", plots.mean_entropy_chart, analysis.mean_entropy_curves(original), original, NOT_STATED
    table = analysis.category_table(original)
    yield "fig2_categories_nt", plots.category_distribution_chart, table[table["method"] == "nt"], original, None
    yield "fig3_categories_vs_epsilon", plots.categories_vs_epsilon_chart, table, original, None
    sweep = pd.concat([analysis.threshold_sweep(g) for g in original], ignore_index=True)
    yield "threshold_sweep", plots.threshold_sweep_chart, sweep, original, NOT_STATED
    gallery = ProfileSet.load([original[0]], require_images=False)
    yield ("fig6_learning_profiles", lambda picked: category_gallery_chart(gallery, picked), category_examples(gallery),
           [original[0]], None)
    yield "fig4_cifar10_neg_accuracy", plots.neg_accuracy_chart, analysis.neg_accuracy_curves(original), original, NOT_STATED
    curves = analysis.training_curves(original)
    yield ("test_vs_neg_accuracy", plots.training_curves_chart, curves[curves["metric"].isin(["test_acc", "neg_acc"])],
           original, NOT_STATED)
    for convention in analysis.CIFAR_C_CONVENTIONS:
        yield f"fig5_cifar_c_{convention}", plots.cifar_c_chart, analysis.cifar_c_summary(groups, convention=convention), groups, NOT_STATED
    yield "fig7_cifar10_c_per_corruption", plots.cifar_c_corruptions_chart, analysis.cifar_c_per_corruption(groups), groups, NOT_STATED
    yield "robust_accuracy_vs_epsilon", plots.robust_accuracy_chart, analysis.robust_summary(groups), groups, NOT_STATED
    report = claims_report(groups)
    ranges = "non-monotonicity thresholds: " + "; ".join(f"{s} {lo:.3g}–{hi:.3g}" for s, (lo, hi) in report.threshold_ranges.items())
    yield "claims", plots.claims_chart, report.difference_frame(), groups, ranges
    yield "claims_thresholds", plots.claims_threshold_chart, report.categories, groups, NOT_STATED
    dyn, _ = frames.dynamics_groups(groups)
    probe, _ = frames.probe_groups(dyn)
    side = lambda df: df[~df["clean"].astype(bool)]  # noqa: E731
    yield "forgetting_histogram", plots.forgetting_histogram_chart, side(frames.forgetting_histogram(dyn, 8)), dyn, NOT_STATED
    yield "forgetting_vs_epsilon", plots.forgetting_summary_chart, side(frames.forgetting_summary(dyn)), dyn, NOT_STATED
    yield "data_maps", plots.data_map_chart, frames.data_map(dyn, sample=3000), dyn, NOT_STATED
    yield "aum_distribution", lambda df: plots.score_distribution_chart(df, "aum"), frames.aum_distribution(dyn), dyn, NOT_STATED
    yield ("el2n_distribution", lambda df: plots.score_distribution_chart(df, "el2n"), frames.el2n_distribution(probe, 0.1),
           probe, NOT_STATED)
    yield "probe_categories_vs_forgetting", plots.probe_crosstab_chart, frames.probe_crosstab(probe, None), probe, None
    yield "probe_rank_correlations", plots.probe_correlation_chart, frames.probe_correlations(probe, None, 0.1), probe, None


def notebook_figure_names() -> set[str]:
    """The figure names the notebooks pass to show_figure (f-string names by their literal prefix)."""
    names = set()
    for path in (REPO / "notebooks").glob("0*.py"):
        for call in re.findall(r"show_figure\((.*?)\)\n", path.read_text(), flags=re.S):
            names.update(m.group(1) or m.group(2).split("{")[0] for m in re.finditer(r'\bf?"([a-z0-9_]+)"|f"([a-z0-9_]+\{)', call))
    return names


def _walk(spec: dict, data: Any = None) -> Iterator[tuple[dict, Any]]:
    """Every unit or layer spec with the data it sees (its own, else its parent's)."""
    data = spec.get("data", data)
    yield spec, data
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            yield from _walk(child, data)
    if isinstance(spec.get("spec"), dict):
        yield from _walk(spec["spec"], data)


class _Row(dict):
    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return float("nan") if value is None else value


def _intervals(unit: dict, rows: list[dict]) -> dict[str, list[float]]:
    """Values of the quantitative y / y2 fields of a unit spec over its rows, after its simple calculate transforms."""
    rows = [_Row(r) for r in rows]
    for t in unit.get("transform", []):
        if "calculate" in t:
            expr = t["calculate"]
            if not re.fullmatch(r"[\w.\s+\-*/()]+", expr):
                continue
            for r in rows:
                try:
                    r[t["as"]] = eval(expr, {}, {"datum": r})  # noqa: S307 - arithmetic over datum fields only
                except (TypeError, ZeroDivisionError):
                    r[t["as"]] = float("nan")
    found: dict[str, list[float]] = {}
    enc = unit.get("encoding", {})
    for channel in ("y", "y2", "x", "x2"):
        field = enc.get(channel, {}).get("field") if isinstance(enc.get(channel), dict) else None
        if field and "aggregate" not in enc[channel]:
            axis = channel[0]
            found.setdefault(axis, []).extend(float(r[field]) for r in rows if isinstance(r.get(field), (int, float)))
    return found


def check_no_clipped_domain(spec: dict, datasets: dict) -> None:
    for node, data in _walk(spec):
        units = node.get("layer", [node]) if "layer" in node else [node]
        for axis in ("x", "y"):
            domains = [u.get("encoding", {}).get(axis, {}).get("scale", {}).get("domain") for u in units
                       if isinstance(u.get("encoding", {}).get(axis), dict)]
            domains = [d for d in domains if isinstance(d, list) and all(isinstance(v, (int, float)) for v in d)]
            if not domains:
                continue
            values = []
            for u in units:
                source = u.get("data", data) or {}
                rows = source.get("values") or datasets.get(source.get("name"), [])
                values += _intervals(u, rows).get(axis, [])
            values = [v for v in values if v == v]
            low, high = min(d[0] for d in domains), max(d[1] for d in domains)
            assert not values or (low - 1e-9 <= min(values) and max(values) <= high + 1e-9), (axis, (low, high), min(values), max(values))


def top_subtitle(spec: dict) -> str:
    title = spec.get("title", {})
    sub = title.get("subtitle", "") if isinstance(title, dict) else ""
    text = title.get("text", "") if isinstance(title, dict) else title
    return " | ".join([text if isinstance(text, str) else " ".join(text), *([sub] if isinstance(sub, str) else sub)])


def test_every_notebook_figure_is_checked_here(charts: dict) -> None:
    checked = set(charts)
    assert checked == set(FIGURES)
    drawn = notebook_figure_names()
    unchecked = {n for n in drawn if not any(c.startswith(n) or n.startswith(c) for c in checked)}
    assert not unchecked - {"fig8_cifar100_c_per_corruption", "suspicious_synthetic_"}, unchecked  # no CIFAR-100 / image file in the demo


@pytest.mark.parametrize("name", FIGURES)
def test_chart_states_its_scale_clips_nothing_and_fits(name: str, charts: dict) -> None:
    import vl_convert as vlc

    spec, threshold = charts[name]
    subtitle = top_subtitle(spec)
    for part in ("CIFAR-10", "small_cnn", "80 training images", "4 epochs", "per setting", "8 record points"):
        assert part in subtitle, (name, subtitle)
    if threshold is not NOT_STATED:
        assert "threshold" in subtitle, (name, subtitle)
    check_no_clipped_domain(spec, spec.get("datasets", {}))
    svg = vlc.vegalite_to_svg(spec)
    width = float(re.search(r'<svg[^>]*\bwidth="([\d.]+)"', svg).group(1))
    assert width <= MAX_RENDERED_WIDTH, (name, width)


def test_figure_legends_use_one_title_per_concept(charts: dict) -> None:
    from atlib.plots.style import LEGEND_TITLES

    allowed = set(LEGEND_TITLES.values()) | {"Correctness", "% of category", "Spearman ρ", None}
    for name, (spec, _) in charts.items():
        titles = {enc["legend"].get("title") for node, _ in _walk(spec) for enc in node.get("encoding", {}).values()
                  if isinstance(enc, dict) and isinstance(enc.get("legend"), dict)}
        assert titles <= allowed, (name, titles - allowed)


def test_interval_domain_holds_every_interval_and_stops_padding_at_the_bounds() -> None:
    from atlib.plots.style import interval_domain

    assert interval_domain([0.2, 0.5], [0.4, 0.9], 0.0, 1.0) == pytest.approx([0.165, 0.935])
    low, high = interval_domain([0.9], [1.02], 0.0, 1.0)  # an interval past the bound stays whole
    assert low < 0.9 and high == pytest.approx(1.02)
    assert interval_domain([0.01], [0.3], 0.0, 1.0)[0] == 0.0  # the padding stops at the floor


def test_wrap_keeps_rows_within_the_panel_budget() -> None:
    from atlib.plots.style import PANELS_WIDTH, wrap

    cells = [alt.Chart({"values": [{"a": 1}]}).mark_point().properties(width=200, height=50) for _ in range(9)]
    spec = wrap(cells, 200).to_dict()
    assert [len(row["hconcat"]) for row in spec["vconcat"]] == [4, 4, 1]
    assert 4 * 200 + 3 * 40 <= PANELS_WIDTH
