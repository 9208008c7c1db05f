"""The claims report over a set of runs: one row per claim and dataset, as a table, JSON or frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlib import metrics
from atlib.claims.evidence import SettingEvidence, collect, finished
from atlib.claims.paper import Scope, scope_claims
from atlib.claims.specs import ClaimResult
from atlib.claims.rule import VERDICTS
from atlib.store.runs import RunGroup, group_seeds, load_runs

FRAME_COLUMNS = ["id", "figure", "claim", "dataset", "model", "verdict", "label", "method", "epsilon_255", "data",
                 "synthetic", "enters", "mean", "min", "max", "n_seeds", "unit"]


@dataclass
class ClaimsReport:
    """Every claim on every dataset/model of the runs, plus what was left out and why."""

    claims: list[ClaimResult]
    notes: list[str]
    threshold_ranges: dict[str, tuple[float, float]]  # "dataset/model" -> the grid's first and last threshold
    categories: pd.DataFrame  # the shares behind claims 3a-3c at every threshold (see category_frame)

    def to_dict(self) -> dict[str, Any]:
        return {"claims": [c.to_dict() for c in self.claims], "notes": self.notes,
                "threshold_ranges": {k: list(v) for k, v in self.threshold_ranges.items()},
                "rule": ("holds: the claimed ordering holds for the mean over seeds and for every seed; does not hold: "
                         "the reverse ordering holds likewise; otherwise cannot tell")}

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def frame(self) -> pd.DataFrame:
        """One row per claim and setting: :data:`FRAME_COLUMNS` (``synthetic``: the setting is a gain from
        synthesized data, claim 5; ``enters``: it enters the verdict)."""
        rows = [{"id": c.id, "figure": c.figure, "claim": c.claim, "dataset": c.dataset, "model": c.model,
                 "verdict": c.verdict, "label": v.label, "method": v.method, "epsilon_255": v.epsilon_255, "data": v.data,
                 "synthetic": c.unit == "gain", "enters": v.enters, "mean": v.mean, "min": v.low, "max": v.high,
                 "n_seeds": len(v.seeds), "unit": c.unit}
                for c in self.claims for v in c.values]
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def threshold_frame(self) -> pd.DataFrame:
        """Claims 3a-3c at every threshold: ``id``, ``dataset``, ``model``, ``threshold``, ``verdict``."""
        rows = [{"id": c.id, "dataset": c.dataset, "model": c.model, "threshold": float(th), "verdict": v}
                for c in self.claims if c.thresholds for th, v in zip(c.thresholds.grid, c.thresholds.verdicts)]
        return pd.DataFrame(rows, columns=["id", "dataset", "model", "threshold", "verdict"])

    def markdown(self) -> str:
        """The table: claim, paper figure, statistic per setting (mean over seeds [min-max]), verdict and reason."""
        lines = ["| claim | paper | dataset | statement | statistic: mean over seeds [min-max] | verdict |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for c in self.claims:
            values = "; ".join(_value_text(v, c.unit) for v in c.values) or "-"
            extra = "".join(f" {n}." for n in c.notes)
            lines.append(f"| {c.id} | {c.figure} | {c.dataset} ({c.model}) | {c.claim} | {c.statistic}: {values} | "
                         f"**{c.verdict}**: {c.reason}.{extra} |")
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        lines += ["", f"Verdicts: {counts}. Rule: a claim holds when its ordering holds for the mean over seeds and for "
                      "every seed, does not hold when the reverse does, and otherwise cannot be told. Settings marked "
                      "\"beside\" (other methods) enter no verdict."]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def _number(x: float, unit: str) -> str:
    if not np.isfinite(x):
        return "-"
    if unit == "accuracy":
        return f"{100 * x:.1f}%"
    if unit == "drop":
        return f"{100 * x:.1f} pp"
    if unit == "gain":
        return f"{100 * x:+.1f} pp"
    if unit == "%":
        return f"{x:.1f}%"
    return f"{x:.3f}"


def _value_text(v: Any, unit: str) -> str:
    spread = f" [{_number(v.low, unit)}-{_number(v.high, unit)}]" if len(v.per_seed) > 1 else ""
    beside = "" if v.enters else " (beside)"
    return f"{v.label}{beside} {_number(v.mean, unit)}{spread} (n={len(v.per_seed)})"


def _scopes(groups: Sequence[RunGroup]) -> dict[tuple[str, str], list[RunGroup]]:
    """Groups by dataset and model; two groups of one setting (e.g. trained for different epochs) are refused."""
    scopes: dict[tuple[str, str], list[RunGroup]] = {}
    for g in groups:
        scopes.setdefault((g.config.dataset, g.config.model), []).append(g)
    for (dataset, model), members in scopes.items():
        seen: dict[str, RunGroup] = {}
        for g in members:
            if g.label in seen:
                other = seen[g.label].config.to_dict()
                differ = sorted(k for k, v in g.config.to_dict().items() if other.get(k) != v and k not in ("seed", "name", "out_dir"))
                raise ValueError(f"two sets of {g.label} runs on {dataset}/{model} differ in {differ}: pass the runs of one "
                                 "configuration per setting (e.g. one sweep's runs folder)")
            seen[g.label] = g
    return scopes


def claims_report(groups: Sequence[RunGroup], threshold_range: tuple[float, float] | None = None,
                  workers: int | None = None) -> ClaimsReport:
    """Judge every claim on ``groups`` (seed groups, e.g. ``group_seeds(load_runs(...))``).

    ``threshold_range`` (absolute total-drop thresholds) overrides the default grid of claims 3a-3c;
    ``workers`` threads read runs (default: one per CPU core).
    """
    notes, done = [], []
    for g in groups:
        kept = finished(g)
        if kept is None or len(kept.runs) < len(g.runs):
            missing = [r.config.seed for r in g.runs if not r.complete]
            notes.append(f"{g.label} ({g.config.dataset}): unfinished seeds {missing} left out")
        if kept is not None:
            done.append(kept)
    claims, ranges, categories = [], {}, []
    for (dataset, model), members in _scopes(done).items():
        points = [g.num_points for g in members]
        # the usual number of record points (claims 3a-3c flag settings recorded otherwise, or at fewer than 2)
        typical = max(2, max(set(points), key=points.count))
        grid = metrics.threshold_grid(typical, threshold_range)
        settings: list[SettingEvidence] = collect(members, grid, workers)
        shown_at = float(np.clip(metrics.default_threshold(typical), grid[0], grid[-1]))
        claims += scope_claims(Scope(dataset, model, settings), shown_at)
        ranges[f"{dataset}/{model}"] = (float(grid[0]), float(grid[-1]))
        categories += [category_frame(s) for s in settings if not s.synthetic]
    if not done:
        notes.append("no finished runs: train some (python -m atlib train, or python -m atlib demo)")
    frame = pd.concat(categories, ignore_index=True) if categories else pd.DataFrame(columns=CATEGORY_COLUMNS)
    return ClaimsReport(claims=claims, notes=notes, threshold_ranges=ranges, categories=frame)


CATEGORY_COLUMNS = ["label", "dataset", "model", "method", "epsilon_255", "synthetic", "data", "enters", "threshold",
                    "category", "mean", "min", "max"]


def category_frame(setting: SettingEvidence) -> pd.DataFrame:
    """Non-monotone and hard shares of one setting at every threshold: ``mean`` under the seed-averaged
    profiles, ``min``/``max`` over the seeds' own profiles (percentages). Columns: :data:`CATEGORY_COLUMNS`."""
    parts = []
    for name in ("non-monotone", "hard"):
        k = metrics.CATEGORIES.index(name)
        per_seed = np.stack([r.shares[:, k] for r in setting.runs])
        parts.append(pd.DataFrame({
            "label": setting.label, "dataset": setting.dataset, "model": setting.model, "method": setting.method,
            "epsilon_255": setting.epsilon_255, "synthetic": setting.synthetic, "data": setting.data,
            "enters": setting.paper_method, "threshold": setting.thresholds, "category": name,
            "mean": setting.shares[:, k], "min": per_seed.min(axis=0), "max": per_seed.max(axis=0)}))
    return pd.concat(parts, ignore_index=True)[CATEGORY_COLUMNS]


def report_for(runs: str | Path | Sequence[str | Path], threshold_range: tuple[float, float] | None = None,
               workers: int | None = None) -> ClaimsReport:
    """:func:`claims_report` over the runs matching ``runs`` (a folder of runs, a glob, a run folder, or a list)."""
    return claims_report(group_seeds(load_runs(runs)), threshold_range, workers)
