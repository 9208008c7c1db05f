"""The claims report over a set of runs: one row per claim and dataset, as a table, JSON or frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from atlib import metrics
from atlib.claims.evidence import PAPER_METHODS, SettingEvidence, collect, finished
from atlib.claims.paper import Scope, formatter, scope_claims
from atlib.claims.specs import ClaimResult
from atlib.claims.rule import CONFIDENCE, FAILS, HOLDS, VERDICTS, Difference
from atlib.store.runs import RunGroup, group_seeds, load_runs

FRAME_COLUMNS = ["id", "figure", "claim", "dataset", "model", "verdict", "label", "method", "epsilon_255", "data",
                 "synthetic", "enters", "mean", "min", "max", "low", "high", "n_seeds", "unit"]
DIFFERENCE_COLUMNS = ["id", "figure", "claim", "dataset", "model", "verdict", "name", "estimate", "low", "high", "minimum",
                      "averaged", "n_seeds", "unit"]
RULE = (f"holds: every shared seed orders as claimed, each difference's interval (seeds: t with seeds - 1 degrees of "
        f"freedom; images: resampled once per replicate for every run; each end a one-sided {100 * CONFIDENCE:g} % bound) "
        "lies above 0, and each effect's near end reaches the claim's minimum effect; does not hold: the mirror; "
        "otherwise cannot tell. Only seeds every compared setting has take part.")


@dataclass
class ClaimsReport:
    """Every claim on every dataset/model of the runs, plus what was left out and why."""

    claims: list[ClaimResult]
    notes: list[str]
    threshold_ranges: dict[str, tuple[float, float]]  # "dataset/model" -> the grid's first and last threshold
    categories: pd.DataFrame  # the shares behind claims 3a-3c at every threshold (see category_frame)

    def to_dict(self) -> dict[str, Any]:
        return {"claims": [c.to_dict() for c in self.claims], "notes": self.notes,
                "threshold_ranges": {k: list(v) for k, v in self.threshold_ranges.items()}, "rule": RULE}

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.claims) for v in VERDICTS}

    def frame(self) -> pd.DataFrame:
        """One row per claim and setting: :data:`FRAME_COLUMNS` (``synthetic``: the setting is a gain from
        synthesized data, claim 5; ``enters``: it enters the verdict)."""
        rows = [{"id": c.id, "figure": c.figure, "claim": c.claim, "dataset": c.dataset, "model": c.model,
                 "verdict": c.verdict, "label": v.label, "method": v.method, "epsilon_255": v.epsilon_255, "data": v.data,
                 "synthetic": c.unit == "gain", "enters": v.enters, "mean": v.mean, "min": v.low, "max": v.high,
                 "low": v.interval()[0], "high": v.interval()[1], "n_seeds": len(v.seeds), "unit": c.unit}
                for c in self.claims for v in c.values]
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def difference_frame(self) -> pd.DataFrame:
        """The differences each verdict read, with the intervals it used (3a-3c: at the shown threshold, with
        ``averaged`` the difference under the seed-averaged profiles, else NaN): :data:`DIFFERENCE_COLUMNS`,
        in the statistic's units."""
        rows = [{"id": c.id, "figure": c.figure, "claim": c.claim, "dataset": c.dataset, "model": c.model,
                 "verdict": c.verdict, "name": d.name, "estimate": d.estimate, "low": d.low, "high": d.high,
                 "minimum": d.minimum, "averaged": np.nan if d.averaged is None else d.averaged,
                 "n_seeds": len(d.seeds), "unit": c.unit}
                for c in self.claims for d in c.differences]
        return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)

    def table(self, width: int = 120) -> str:
        """A terminal table that fits ``width`` columns: claim, dataset, verdict and the short statistic."""
        lines = [f"{'claim':<5} {'dataset':<9} {'verdict':<13} statistic", "-" * width]
        for c in self.claims:
            head = f"{c.id:<5} {c.dataset[:9]:<9} {c.verdict:<13} "
            lines.append(head + _clip(short_statistic(c), width - len(head)))
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        lines += ["", _clip(f"Verdicts: {counts}. Full rows: --markdown; intervals and reasons: --json.", width)]
        lines += [_clip(f"- {n}", width) for n in self.notes]
        return "\n".join(lines)

    def threshold_frame(self) -> pd.DataFrame:
        """Claims 3a-3c at every threshold: ``id``, ``dataset``, ``model``, ``threshold``, ``verdict``."""
        rows = [{"id": c.id, "dataset": c.dataset, "model": c.model, "threshold": float(th), "verdict": v}
                for c in self.claims if c.thresholds for th, v in zip(c.thresholds.grid, c.thresholds.verdicts)]
        return pd.DataFrame(rows, columns=["id", "dataset", "model", "threshold", "verdict"])

    def markdown(self) -> str:
        """The table: claim, paper figure, statistic per setting (mean over seeds [min-max]), verdict and reason."""
        lines = ["| claim | paper | dataset | statement | statistic: mean over seeds [min-max] | differences [interval] "
                 "(minimum effect) | verdict |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in self.claims:
            values = "; ".join(_value_text(v, c.unit) for v in c.values) or "-"
            diffs = "; ".join(_difference_text(d, c.unit) for d in c.differences) or "-"
            extra = "".join(f" {n}." for n in c.notes)
            lines.append(f"| {c.id} | {c.figure} | {c.dataset} ({c.model}) | {c.claim} | {c.statistic}: {values} | {diffs} | "
                         f"**{c.verdict}**: {c.reason}.{extra} |")
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        lines += ["", f"Verdicts: {counts}. Rule: {RULE} Settings marked \"beside\" (other methods) enter no verdict. "
                      "Each claim's false-hold rate is at most 5 %; over a dozen claims, a report on runs with no effect "
                      "at all can still show one false \"holds\" (docs/claims.md)."]
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


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _difference_text(d: Difference, unit: str) -> str:
    fmt = formatter(unit)
    need = f" (min {fmt(d.minimum)})" if d.minimum else ""
    return f"{d.name} {fmt(d.estimate)} [{fmt(d.low)}, {fmt(d.high)}]{need}"


def short_statistic(c: ClaimResult) -> str:
    """One difference that carries the verdict, with its interval: for holds (does not hold) the one
    whose near end is closest to its threshold; for cannot tell the reason, which quotes the difference
    it read (for 3a-3c at the threshold where it failed, not the shown one), or the last difference and
    the reason's end."""
    if not c.differences or (c.verdict not in (HOLDS, FAILS) and any(x.name in c.reason for x in c.differences)):
        return c.reason
    fmt = formatter(c.unit)
    if c.verdict == HOLDS:
        d = min(c.differences, key=lambda x: x.low - x.minimum)
    elif c.verdict == FAILS:
        d = max(c.differences, key=lambda x: x.high + x.minimum)
    else:
        d = c.differences[-1]
    need = f", min {fmt(d.minimum)}" if d.minimum else ""
    text = f"{d.name} {fmt(d.estimate)} [{fmt(d.low)}, {fmt(d.high)}]{need}"
    if c.verdict not in (HOLDS, FAILS) and ": " in c.reason:
        text += f": {c.reason.rsplit(': ', 1)[-1]}"
    return text


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
                  workers: int | None = None, allow_mixed_recipes: bool = False) -> ClaimsReport:
    """Judge every claim on ``groups`` (seed groups, e.g. ``group_seeds(load_runs(...))``).

    ``threshold_range`` (absolute total-drop thresholds) overrides the default grid of claims 3a-3c
    (flagged beside their verdicts); ``workers`` threads read runs (default: one per CPU core);
    ``allow_mixed_recipes`` turns "recipes differ" from a reason to cannot tell into a note.
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
        settings: list[SettingEvidence] = collect(members, grid, workers, _shared_original_seeds(members))
        shown_at = float(np.clip(metrics.default_threshold(typical), grid[0], grid[-1]))
        claims += scope_claims(Scope(dataset, model, settings, allow_mixed_recipes, threshold_range is None), shown_at)
        ranges[f"{dataset}/{model}"] = (float(grid[0]), float(grid[-1]))
        categories += [category_frame(s) for s in settings if not s.synthetic]
    if not done:
        notes.append("no finished runs: train some (python -m atlib train, or python -m atlib demo)")
    frame = pd.concat(categories, ignore_index=True) if categories else pd.DataFrame(columns=CATEGORY_COLUMNS)
    return ClaimsReport(claims=claims, notes=notes, threshold_ranges=ranges, categories=frame)


def _shared_original_seeds(groups: Sequence[RunGroup]) -> list[int] | None:
    """The seeds every NT and PGD-AT setting on the original data has: the seed-averaged profiles of
    claims 3a-3c average these and no other (None without such settings)."""
    chosen = [g for g in groups if g.setting.method in PAPER_METHODS and not g.setting.options
              and g.setting.data == "original"]
    if not chosen:
        return None
    return sorted(set.intersection(*(set(g.seeds) for g in chosen)))


CATEGORY_COLUMNS = ["label", "dataset", "model", "method", "epsilon_255", "synthetic", "data", "enters", "threshold",
                    "category", "mean", "min", "max"]


def category_frame(setting: SettingEvidence) -> pd.DataFrame:
    """Non-monotone and hard shares of one setting at every threshold: ``mean`` under the seed-averaged
    profiles, ``min``/``max`` over the seeds' own profiles (percentages), both over the seeds the claims
    compare (``averaged_seeds``). Columns: :data:`CATEGORY_COLUMNS`."""
    parts = []
    runs = [r for r in setting.runs if r.seed in setting.averaged_seeds]
    for name in ("non-monotone", "hard"):
        k = metrics.CATEGORIES.index(name)
        per_seed = np.stack([r.shares[0, :, k] for r in runs])
        parts.append(pd.DataFrame({
            "label": setting.label, "dataset": setting.dataset, "model": setting.model, "method": setting.method,
            "epsilon_255": setting.epsilon_255, "synthetic": setting.synthetic, "data": setting.data,
            "enters": setting.paper_method, "threshold": setting.thresholds, "category": name,
            "mean": setting.shares[:, k], "min": per_seed.min(axis=0), "max": per_seed.max(axis=0)}))
    return pd.concat(parts, ignore_index=True)[CATEGORY_COLUMNS]


def report_for(runs: str | Path | Sequence[str | Path], threshold_range: tuple[float, float] | None = None,
               workers: int | None = None, allow_mixed_recipes: bool = False) -> ClaimsReport:
    """:func:`claims_report` over the runs matching ``runs`` (a folder of runs, a glob, a run folder, or a list).
    A run that cannot be loaded is left out, with a note saying which and why."""
    skipped: list[str] = []
    report = claims_report(group_seeds(load_runs(runs, skipped=skipped)), threshold_range, workers, allow_mixed_recipes)
    report.notes[:0] = skipped
    return report
