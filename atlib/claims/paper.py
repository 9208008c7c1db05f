"""The paper's claims judged on a set of runs: each claim of :data:`atlib.claims.specs.SPECS` as strict
orderings between settings' statistics (:mod:`atlib.claims.rule`), from the runs' evidence
(:mod:`atlib.claims.evidence`). The specs' docstring says what each claim compares and how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from atlib import metrics
from atlib.claims.evidence import SettingEvidence
from atlib.claims.rule import FAILS, HOLDS, UNCLEAR, Less, Value, judge, seed_gap
from atlib.claims.specs import SPECS, ClaimResult, Spec, ThresholdEvaluation

NON_MONOTONE, HARD = metrics.CATEGORIES.index("non-monotone"), metrics.CATEGORIES.index("hard")


@dataclass
class Scope:
    """The settings of one dataset and model: what one set of claims compares."""

    dataset: str
    model: str
    settings: list[SettingEvidence]

    def original(self, paper: bool) -> list[SettingEvidence]:
        """Settings on the original data: NT/PGD-AT (``paper``) or the other methods, NT first then by ε."""
        chosen = [s for s in self.settings if not s.synthetic and s.paper_method == paper]
        return sorted(chosen, key=lambda s: s.sort_key)

    @property
    def nt(self) -> SettingEvidence | None:
        return next((s for s in self.original(True) if s.method == "nt"), None)

    @property
    def at(self) -> list[SettingEvidence]:
        return [s for s in self.original(True) if s.method == "at"]

    def synthetic_tags(self) -> list[str]:
        return sorted({s.data for s in self.settings if s.synthetic})

    def on(self, setting: SettingEvidence, tag: str) -> SettingEvidence | None:
        """The setting that differs from ``setting`` only in training with synthesized set ``tag``."""
        return next((s for s in self.settings if s.data == tag and s.pair_key == setting.pair_key), None)


# ----------------------------------------------------------------------------- values and helpers


def _value(setting: SettingEvidence, per_seed: Sequence[float], label: str | None = None,
           seeds: Sequence[int] | None = None, mean: float | None = None, enters: bool | None = None) -> Value:
    """A setting's Value from per-seed numbers (NaN: that seed lacks it, left out); ``mean`` defaults to
    their mean, ``enters`` to whether the setting is NT or PGD-AT."""
    seeds = list(setting.seeds if seeds is None else seeds)
    keep = [k for k, x in enumerate(per_seed) if np.isfinite(x)]
    kept = tuple(float(per_seed[k]) for k in keep)
    centre = mean if mean is not None else (float(np.mean(kept)) if kept else float("nan"))
    return Value(label=label or setting.label, method=setting.method, epsilon_255=setting.epsilon_255, data=setting.data,
                 seeds=tuple(seeds[k] for k in keep), per_seed=kept, mean=centre,
                 enters=setting.paper_method if enters is None else enters)


def _chain(values: Sequence[Value], increasing: bool) -> list[Less]:
    """Orderings along the ε axis (``values`` in ε order)."""
    pairs = zip(values, values[1:])
    return [Less(a, b) if increasing else Less(b, a) for a, b in pairs]


def _labels(settings: Sequence[SettingEvidence]) -> str:
    return ", ".join(s.label for s in settings) or "none"


def _axis_gap(scope: Scope) -> str | None:
    if scope.nt is None or len(scope.at) < 2:
        return ("missing settings: needs NT and at least two AT budgets on the original data; "
                f"found {_labels(scope.original(True))}")
    return None


def _versus_nt_gap(scope: Scope) -> str | None:
    if scope.nt is None or not scope.at:
        return f"missing settings: needs NT and at least one AT budget on the original data; found {_labels(scope.original(True))}"
    return None


def _missing_values(values: Sequence[Value], what: str) -> str | None:
    empty = [v.label for v in values if v.enters and not v.per_seed]
    return f"no {what} for {', '.join(empty)}" if empty else None


def _result(spec: Spec, scope: Scope, values: list[Value], orders: Callable[[], list[Less]], gap: str | None,
            **extra) -> ClaimResult:
    """Judge ``orders`` unless ``gap`` already says why we cannot tell."""
    verdict, reason = (UNCLEAR, gap) if gap else judge(orders())
    return ClaimResult(spec.id, spec.figure, spec.claim, spec.statistic, spec.unit, scope.dataset, scope.model,
                       values, verdict, reason, **extra)


def _per_setting(scope: Scope, spec: Spec, statistic: Callable[[SettingEvidence], Value], increasing: bool,
                 versus_nt: bool, what: str) -> ClaimResult:
    """A claim over the original-data settings: AT above (``increasing``) or below NT at every ε
    (``versus_nt``), or a monotone chain along the ε axis."""
    paper = [statistic(s) for s in scope.original(True)]
    beside = [statistic(s) for s in scope.original(False)]
    gap = (_versus_nt_gap(scope) if versus_nt else _axis_gap(scope)) or _missing_values(paper, what)

    def orders() -> list[Less]:
        if not versus_nt:
            return _chain(paper, increasing)
        nt, ats = paper[0], paper[1:]
        return [Less(nt, at) if increasing else Less(at, nt) for at in ats]

    return _result(spec, scope, paper + beside, orders, gap)


# ----------------------------------------------------------------------------- claims 1, 2: entropy


def entropy_claims(scope: Scope) -> list[ClaimResult]:
    def final(k: int) -> Callable[[SettingEvidence], Value]:
        return lambda s: _value(s, [r.final_entropy[k] for r in s.runs])

    def area(s: SettingEvidence) -> Value:
        return _value(s, [_normalized_area(r.time, r.mean_entropy) / np.log(s.num_classes) for r in s.runs])

    out = [_per_setting(scope, SPECS["1a"], final(0), True, True, "test records"),
           _per_setting(scope, SPECS["1b"], final(1), True, True, "test records")]
    claim2 = _per_setting(scope, SPECS["2"], area, True, False, "test records")
    entering = [v for v in claim2.values if v.enters]
    if len(entering) >= 2:
        rho = _spearman([v.epsilon_255 for v in entering], [v.mean for v in entering])
        claim2.notes.append(f"rank correlation (Spearman) of ε with the area, over the means: {rho:+.2f}")
    return out + [claim2]


def _normalized_area(time: np.ndarray, curve: np.ndarray) -> float:
    """Mean height of ``curve`` over the recorded span of training (trapezoid rule; one point: its value)."""
    if len(time) < 2:
        return float(curve[0])
    return float(np.trapezoid(curve, time) / (time[-1] - time[0]))


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks on ties)."""
    def ranks(v: Sequence[float]) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):
            r[v == value] = r[v == value].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


# ----------------------------------------------------------------------------- claim 3: point categories


def category_claims(scope: Scope, shown_at: float) -> list[ClaimResult]:
    """3a-3c judged at every threshold of the scope's grid, values shown at the grid point nearest ``shown_at``."""
    settings = scope.original(True) + scope.original(False)
    grid = settings[0].thresholds if settings else np.array([shown_at])
    k_shown = int(np.argmin(np.abs(grid - shown_at)))
    points = sorted({s.num_points for s in settings})
    common_gap = None
    if any(p < 2 for p in points):
        common_gap = "missing: a setting has fewer than 2 record points; a learning profile needs two"
    elif len(points) > 1:
        common_gap = (f"settings recorded at different numbers of points ({', '.join(map(str, points))}): their "
                      "non-monotonicity scores (sums of drops) are not on one scale")

    def values_at(k: int, category: int) -> tuple[list[Value], list[Value]]:
        def one(s: SettingEvidence) -> Value:
            return _value(s, [r.shares[k, category] for r in s.runs], mean=float(s.shares[k, category]))
        return [one(s) for s in scope.original(True)], [one(s) for s in scope.original(False)]

    out = []
    for spec, category, versus_nt, increasing in ((SPECS["3a"], NON_MONOTONE, True, False),
                                                  (SPECS["3b"], NON_MONOTONE, False, False),
                                                  (SPECS["3c"], HARD, False, True)):
        gap = common_gap or (_versus_nt_gap(scope) if versus_nt else _axis_gap(scope))
        paper, beside = values_at(k_shown, category)
        gap = gap or seed_gap(paper)
        if gap:
            out.append(ClaimResult(spec.id, spec.figure, spec.claim, spec.statistic, spec.unit, scope.dataset, scope.model,
                                   paper + beside, UNCLEAR, gap))
            continue
        verdicts = []
        for k in range(len(grid)):
            at_k = values_at(k, category)[0]
            orders = [Less(at, at_k[0]) for at in at_k[1:]] if versus_nt else _chain(at_k, increasing)
            verdicts.append(judge(orders)[0])
        evaluation = ThresholdEvaluation(grid=grid, verdicts=verdicts, shown_at=float(grid[k_shown]))
        verdict, reason = _over_thresholds(evaluation)
        statistic = (f"{spec.statistic} at threshold {grid[k_shown]:.3g}: seed-averaged profiles "
                     "[min-max of each seed's own profile]")
        out.append(ClaimResult(spec.id, spec.figure, spec.claim, statistic,
                               spec.unit, scope.dataset, scope.model, paper + beside, verdict, reason, evaluation))
    return out


def _over_thresholds(evaluation: ThresholdEvaluation) -> tuple[str, str]:
    """Holds (does not hold) when it does at every threshold; otherwise where each ordering holds."""
    grid = evaluation.grid
    span = f"{grid[0]:.3g}-{grid[-1]:.3g}"
    for verdict, sense in ((HOLDS, "ordering"), (FAILS, "reverse ordering")):
        if all(v == verdict for v in evaluation.verdicts):
            return verdict, (f"the {sense} holds at every threshold in {span} ({len(grid)} thresholds), for the "
                             "seed-averaged profiles and for each seed's own")

    def text(ranges: list[tuple[float, float]]) -> str:
        return ", ".join(f"{a:.3g}" if a == b else f"{a:.3g}-{b:.3g}" for a, b in ranges)

    holds, reverse = text(evaluation.ranges(HOLDS)), text(evaluation.ranges(FAILS))
    parts = ([f"the ordering holds at thresholds {holds}"] if holds else []) + ([f"the reverse at {reverse}"] if reverse else [])
    return UNCLEAR, f"{'; '.join(parts) or 'neither the ordering nor its reverse holds at any threshold'} (of {span})"


# ----------------------------------------------------------------------------- claim 4: CIFAR-10-NEG


def neg_fall(neg: np.ndarray, test: np.ndarray) -> float:
    """Fall of NEG accuracy from its peak (which must come after the first record point) to its
    lowest later value at a point where test accuracy is above its value at the peak; 0 if none."""
    peak = int(np.argmax(neg))
    if peak == 0 or neg[peak] <= neg[0]:
        return 0.0
    later = np.arange(peak + 1, len(neg))
    later = later[test[later] > test[peak]]
    return float(neg[peak] - neg[later].min()) if len(later) else 0.0


def neg_claims(scope: Scope) -> list[ClaimResult]:
    if scope.dataset != "cifar10":
        gap: str | None = "no NEG: CIFAR-10-NEG is a CIFAR-10 set"
    else:
        lacking = [s.label for s in scope.original(True) if not s.has_neg]
        gap = f"no NEG: CIFAR-10-NEG not recorded for {', '.join(lacking)}" if lacking else None

    def fall(s: SettingEvidence) -> Value:  # 4a is about NT: AT and other methods are shown beside it
        return _value(s, [neg_fall(r.neg_acc, r.test_acc) if r.neg_acc is not None else np.nan for r in s.runs],
                      enters=s.paper_method and s.method == "nt")

    def decrease(s: SettingEvidence) -> Value:
        return _value(s, [_total_decrease(r.neg_acc) if r.neg_acc is not None else np.nan for r in s.runs])

    settings = scope.original(True) + scope.original(False)
    falls = [fall(s) for s in settings]
    nt = next((v for v in falls if v.enters), None)
    gap_a = gap or (None if nt is not None else f"missing settings: no NT run on the original data; found {_labels(settings)}")
    claim_a = _result(SPECS["4a"], scope, falls, lambda: [Less(0.0, nt, tie_is_reverse=True)], gap_a)
    claim_b = _per_setting(scope, SPECS["4b"], decrease, False, False, "NEG records")
    if gap:
        claim_b.verdict, claim_b.reason = UNCLEAR, gap
    return [claim_a, claim_b]


def _total_decrease(curve: np.ndarray) -> float:
    steps = np.diff(curve)
    return float(-steps[steps < 0].sum())


# ----------------------------------------------------------------------------- claim 5: synthesized data, CIFAR-C


def synthetic_claims(scope: Scope) -> list[ClaimResult]:
    tags = scope.synthetic_tags()
    if not tags:
        gap = f"missing settings: no runs with synthesized data for {scope.dataset}"
        return [_result(SPECS[i], scope, [], lambda: [], gap) for i in ("5a", "5b")]
    out = []
    for tag in tags:
        gains = {}
        for s in scope.original(True) + scope.original(False):
            mixed = scope.on(s, tag)
            if mixed is not None:
                gains[s.label] = _gain(s, mixed, tag)
        paper = [g for g in gains.values() if g.enters]
        nt = next((g for g in paper if g.method == "nt"), None)
        ats = sorted((g for g in paper if g.method == "at"), key=lambda g: g.epsilon_255)
        values = paper + [g for g in gains.values() if not g.enters]
        missing = _missing_values(paper, "CIFAR-C evaluation (with and without synthesized data)")
        standin = (f"stand-in instead of synthesized data: the '{tag}' runs trained on held-out real images, "
                   "not generated ones") if tag == "standin" else None
        found = ", ".join(g.label for g in paper) or "none"
        gap_a = "; ".join(g for g in (None if len(ats) >= 2 else f"missing settings: needs AT at two or more budgets "
                                      f"with and without '{tag}' data; found {found}", missing, standin) if g) or None
        gap_b = "; ".join(g for g in (None if nt is not None and ats else f"missing settings: needs NT and AT with and "
                                      f"without '{tag}' data; found {found}", missing, standin) if g) or None
        kinds = sorted({r.cifar_c_kind for s in scope.settings for r in s.runs if r.cifar_c_kind})
        notes = [f"CIFAR-C files: {', '.join(kinds)}"] if kinds else []
        out.append(_result(SPECS["5a"], scope, values, lambda: [Less(0.0, ats[0])] + _chain(ats, True), gap_a, notes=notes))
        out.append(_result(SPECS["5b"], scope, values, lambda: [Less(nt, at) for at in ats], gap_b, notes=list(notes)))
    return out


def _gain(original: SettingEvidence, mixed: SettingEvidence, tag: str) -> Value:
    """Per seed present in both: CIFAR-C accuracy with ``tag`` data minus on the original data."""
    theirs = {r.seed: r.cifar_c for r in mixed.runs}
    seeds = [r.seed for r in original.runs if r.seed in theirs]
    ours = {r.seed: r.cifar_c for r in original.runs}
    return _value(original, [theirs[s] - ours[s] for s in seeds], label=f"{original.label}: {tag} - original", seeds=seeds)


# ----------------------------------------------------------------------------- claim 6: the trade-off


def tradeoff_claims(scope: Scope) -> list[ClaimResult]:
    robust = _per_setting(scope, SPECS["6a"], lambda s: _value(s, [r.robust_acc for r in s.runs]), True, False,
                          "robust evaluation at 8/255")
    clean = _per_setting(scope, SPECS["6b"], lambda s: _value(s, [r.clean_acc for r in s.runs]), False, False,
                         "clean accuracy")
    return [robust, clean]


def scope_claims(scope: Scope, shown_at: float) -> list[ClaimResult]:
    """Every claim on one dataset and model, in the order of :data:`SPECS`."""
    return entropy_claims(scope) + category_claims(scope, shown_at) + neg_claims(scope) + synthetic_claims(scope) + tradeoff_claims(scope)
