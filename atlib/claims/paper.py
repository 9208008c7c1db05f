"""The paper's claims judged on a set of runs: each claim of :data:`atlib.claims.specs.SPECS` as strict
orderings between settings' statistics (:mod:`atlib.claims.rule`), from the runs' evidence
(:mod:`atlib.claims.evidence`). The specs' docstring says what each claim compares and how.

Before any ordering is judged, a claim checks that what it compares is comparable: the settings
share a recipe (:func:`recipe_gap`), were scored on the same test images, were recorded at the same
number of points where the statistic depends on it (3a-3c, 4a, 4b), and, for claim 5, were scored
on one CIFAR-C source. Only the seeds every compared setting has take part.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from atlib import metrics
from atlib.claims.evidence import RunEvidence, SettingEvidence
from atlib.claims.rule import FAILS, HOLDS, UNCLEAR, Judgement, Less, Value, judge, seed_gap, shared_seeds
from atlib.claims.specs import MIN_ENTROPY_FALL, MIN_FALL, SPECS, ClaimResult, Spec, ThresholdEvaluation
from atlib import methods as method_table
from atlib.config import RESULT_NEUTRAL_FIELDS, TrainConfig
from atlib.datasets import dataset_info

NON_MONOTONE, HARD = metrics.CATEGORIES.index("non-monotone"), metrics.CATEGORIES.index("hard")
# Fields a claim's settings may differ in besides the result-neutral ones: the seed, the synthesized
# data, and the method with the fields only it uses (the attack's fields count between two adversarial
# methods, a method's parameters between two runs of that method; options inert in a run do not count).
SETTING_FIELDS = frozenset({"seed", "synthetic", "synthetic_fraction", "synthetic_tag", "method", "epsilon_255",
                            "awp_gamma", "awp_warmup", "ema_decay"})
ATTACK_FIELDS = frozenset({"pgd_steps", "pgd_alpha_255", "attack_bn_mode"})


@dataclass
class Scope:
    """The settings of one dataset and model: what one set of claims compares."""

    dataset: str
    model: str
    settings: list[SettingEvidence]
    allow_mixed_recipes: bool = False
    default_grid: bool = True

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


# ----------------------------------------------------------------------------- comparability


def compared_fields(a: TrainConfig, b: TrainConfig) -> list[str]:
    """The config fields two settings of one claim must agree on (see :data:`SETTING_FIELDS`)."""
    skip = _skipped(a.method, b.method) | a.inert_fields() | b.inert_fields()
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in skip]


@functools.cache
def _skipped(a: str, b: str) -> frozenset[str]:
    """Fields not compared between a setting of method ``a`` and one of method ``b``, whatever their options."""
    skip = set(RESULT_NEUTRAL_FIELDS) | SETTING_FIELDS
    table = method_table.METHODS
    if not (a in table and b in table and table[a].adversarial and table[b].adversarial):
        skip |= ATTACK_FIELDS
    for name, method in table.items():
        if not a == b == name:
            skip |= {field for field, _ in method.defaults}
    return frozenset(skip)


def recipe_differences(settings: Sequence[SettingEvidence]) -> list[str]:
    """``field (value vs value)`` for every compared field on which two of ``settings`` disagree."""
    configs = [s.config for s in settings]
    pairs = [(a, b, set(compared_fields(a, b))) for i, a in enumerate(configs) for b in configs[i + 1:]]
    out = []
    for f in dataclasses.fields(TrainConfig):
        counted = [(a, b) for a, b, fields in pairs if f.name in fields]
        if any(getattr(a, f.name) != getattr(b, f.name) for a, b in counted):
            seen = list(dict.fromkeys(_show(getattr(c, f.name)) for pair in counted for c in pair))
            out.append(f"{f.name} ({' vs '.join(seen)})")
    return out


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return str(value)


@dataclass
class Checks:
    """What makes a claim's settings incomparable (gap) and what is only noted."""

    gap: str | None = None
    notes: list[str] = field(default_factory=list)


def comparable(scope: Scope, settings: Sequence[SettingEvidence], by_points: bool) -> Checks:
    """Whether ``settings`` can be compared: recipes, test images, and (``by_points``) record points."""
    out = Checks()
    settings = [s for s in settings if s is not None]
    differ = recipe_differences(settings)
    if differ:
        text = f"recipes differ in {', '.join(differ)}"
        if scope.allow_mixed_recipes:
            out.notes.append(f"{text} (--allow-mixed-recipes)")
        else:
            out.gap = text
    images = {s.test_images for s in settings}
    if len(images) > 1:
        groups = {}
        for s in settings:
            groups.setdefault(s.test_images, []).append(s.label)
        named = "; ".join(", ".join(labels) for labels in groups.values())
        out.gap = out.gap or f"scored on different test images (test_index differs between {named}): no pairing"
    if by_points:
        points = sorted({s.num_points for s in settings})
        if any(p < 2 for p in points):
            out.gap = out.gap or "missing: a setting has fewer than 2 record points; a learning profile needs two"
        elif len(points) > 1:
            out.gap = out.gap or (f"settings recorded at different numbers of points ({', '.join(map(str, points))}): "
                                  "the statistic (a sum over record points) is not on one scale")
    return out


# ----------------------------------------------------------------------------- values and helpers


def _value(setting: SettingEvidence, per_run: Sequence[np.ndarray | None], label: str | None = None,
           seeds: Sequence[int] | None = None, mean: float | None = None, enters: bool | None = None) -> Value:
    """A setting's Value from per-run (1 + B,) arrays (None or a NaN statistic: that seed lacks it, left out);
    ``mean`` defaults to the mean over its seeds, ``enters`` to whether the setting is NT or PGD-AT."""
    seeds = list(setting.seeds if seeds is None else seeds)
    if isinstance(per_run, np.ndarray):  # (seeds, 1 + B) at once
        keep = np.flatnonzero(np.isfinite(per_run[:, 0])).tolist()
        reps, kept = (per_run[keep, 1:] if keep else None), tuple(per_run[keep, 0].tolist())
    else:
        keep = [k for k, x in enumerate(per_run) if x is not None and np.isfinite(x[0])]
        reps = np.stack([per_run[k][1:] for k in keep]) if keep else None
        kept = tuple(float(per_run[k][0]) for k in keep)
    centre = mean if mean is not None else (float(np.mean(kept)) if kept else float("nan"))
    return Value(label=label or setting.label, method=setting.method, epsilon_255=setting.epsilon_255, data=setting.data,
                 seeds=tuple(seeds[k] for k in keep), per_seed=kept, mean=centre,
                 enters=setting.paper_method if enters is None else enters, replicates=reps)


def restrict(value: Value, seeds: Sequence[int], mean: float | None = None) -> Value:
    """``value`` on the ``seeds`` it has of those given (mean over them unless ``mean`` is given)."""
    keep = [k for k, s in enumerate(value.seeds) if s in seeds]
    if len(keep) == len(value.seeds) and mean is None:
        return value
    per_seed = tuple(value.per_seed[k] for k in keep)
    reps = value.replicates[keep] if value.replicates is not None and keep else None
    centre = mean if mean is not None else (float(np.mean(per_seed)) if per_seed else float("nan"))
    return Value(value.label, value.method, value.epsilon_255, value.data, tuple(value.seeds[k] for k in keep),
                 per_seed, centre, value.enters, reps)


def chain(values: Sequence[Value], increasing: bool) -> list[Less]:
    """Orderings along the ε axis (``values`` in ε order): every adjacent pair for the sign, and the
    span (first to last) for the effect."""
    def less(a: Value, b: Value, effect: bool) -> Less:
        return Less(a, b, effect) if increasing else Less(b, a, effect)
    pairs = [less(a, b, False) for a, b in zip(values, values[1:])]
    return pairs + [less(values[0], values[-1], True)] if len(values) > 2 else [less(values[0], values[1], True)]


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


def formatter(unit: str) -> Callable[[float], str]:
    """How a difference of a statistic in ``unit`` is written (accuracies and shares in pp)."""
    if unit in ("accuracy", "drop", "gain"):
        return lambda x: f"{100 * x:+.1f} pp"
    if unit == "%":
        return lambda x: f"{x:+.1f} pp"
    if unit == "nats":
        return lambda x: f"{x:+.3f} nats"
    return lambda x: f"{x:+.3f}"


def _seed_note(values: Sequence[Value], seeds: Sequence[int]) -> list[str]:
    dropped = [f"{v.label} {', '.join(str(s) for s in v.seeds if s not in seeds)}" for v in values
               if v.enters and any(s not in seeds for s in v.seeds)]
    return [f"seeds not shared by every setting left out: {'; '.join(dropped)}"] if dropped else []


def _result(spec: Spec, scope: Scope, values: list[Value], orders: Callable[[list[Value]], list[Less]],
            checks: Checks, gap: str | None = None, minimum: float | None = None, **extra) -> ClaimResult:
    """Judge ``orders`` (built from the entering values, restricted to their shared seeds) unless a gap says
    why we cannot tell."""
    minimum = spec.minimum if minimum is None else minimum
    entering = [v for v in values if v.enters]
    seeds = shared_seeds(entering)
    shown = [restrict(v, seeds) if v.enters else v for v in values] if len(seeds) >= 2 else values
    notes = list(checks.notes) + extra.pop("notes", [])
    gap = gap or checks.gap
    if gap:
        judgement = Judgement(UNCLEAR, gap)
    else:
        notes += _seed_note(entering, seeds)
        judgement = judge(orders([v for v in shown if v.enters]), minimum, formatter(spec.unit))
    return ClaimResult(spec.id, spec.figure, spec.claim, spec.statistic, spec.unit, scope.dataset, scope.model,
                       shown, judgement.verdict, judgement.reason, notes=notes, differences=judgement.differences,
                       minimum=minimum, **extra)


def _per_setting(scope: Scope, spec: Spec, statistic: Callable[[SettingEvidence], Value], increasing: bool,
                 versus_nt: bool, what: str, by_points: bool = False, gap: str | None = None) -> ClaimResult:
    """A claim over the original-data settings: AT above (``increasing``) or below NT at every ε
    (``versus_nt``), or a monotone chain along the ε axis."""
    paper = [statistic(s) for s in scope.original(True)]
    beside = [statistic(s) for s in scope.original(False)]
    gap = gap or (_versus_nt_gap(scope) if versus_nt else _axis_gap(scope)) or _missing_values(paper, what)

    def orders(entering: list[Value]) -> list[Less]:
        if not versus_nt:
            return chain(entering, increasing)
        nt, ats = entering[0], entering[1:]
        return [Less(nt, at) if increasing else Less(at, nt) for at in ats]

    return _result(spec, scope, paper + beside, orders, comparable(scope, scope.original(True), by_points), gap)


# ----------------------------------------------------------------------------- claims 1, 2: entropy


def entropy_claims(scope: Scope) -> list[ClaimResult]:
    def rate_gap() -> str | None:  # only the seeds every setting has take part, here as in the differences
        settings = scope.original(True)
        shared = shared_seeds(settings)
        flat = [f"{s.label} (seed {r.seed}: {100 * r.entropy_fallen:.0f} %)" for s in settings for r in s.runs
                if r.seed in shared and not r.entropy_fallen >= MIN_ENTROPY_FALL]
        if flat:
            return (f"the mean entropy falls less than {100 * MIN_ENTROPY_FALL:g} % of log C for {', '.join(flat)}: "
                    "a rate normalised by so small a fall is undefined")
        return None

    return [_per_setting(scope, SPECS["1a"], lambda s: _value(s, [r.entropy_mean for r in s.runs]), True, True, "test records"),
            _per_setting(scope, SPECS["1b"], lambda s: _value(s, [r.entropy_iqr for r in s.runs]), True, True, "test records"),
            _per_setting(scope, SPECS["2"], lambda s: _value(s, [r.entropy_rate for r in s.runs]), True, False,
                         "test records", gap=rate_gap())]


# ----------------------------------------------------------------------------- claim 3: point categories


def category_claims(scope: Scope, shown_at: float) -> list[ClaimResult]:
    """3a-3c judged at every threshold of the scope's grid, values shown at the grid point nearest ``shown_at``.

    At each threshold the interval comes from each seed's own shares; the shares under the
    seed-averaged profiles (over the same seeds) are a sign check: they must not order against the
    verdict. A threshold at which every compared share is 0 is left out; with fewer than half of
    the grid left, we cannot tell.
    """
    settings = scope.original(True) + scope.original(False)
    grid = settings[0].thresholds if settings else np.array([shown_at])
    k_shown = int(np.argmin(np.abs(grid - shown_at)))
    checks = comparable(scope, scope.original(True), by_points=True)

    stacked = {id(s): np.stack([r.shares for r in s.runs]) for s in settings}  # (seeds, 1 + B, K, 4)

    def values_at(k: int, category: int) -> list[Value]:
        return [_value(s, stacked[id(s)][:, :, k, category], mean=float(s.shares[k, category])) for s in settings]

    out = []
    for spec, category, versus_nt, increasing in ((SPECS["3a"], NON_MONOTONE, True, False),
                                                  (SPECS["3b"], NON_MONOTONE, False, False),
                                                  (SPECS["3c"], HARD, False, True)):
        gap = checks.gap or (_versus_nt_gap(scope) if versus_nt else _axis_gap(scope))
        shown = values_at(k_shown, category)
        entering = [v for v in shown if v.enters]
        gap = gap or seed_gap(entering)
        statistic = (f"{spec.statistic} at threshold {grid[k_shown]:.3g}: each seed's own profile (interval), "
                     "the profile averaged over the shared seeds (sign check)")
        if gap:
            out.append(_result(spec, scope, shown, lambda v: [], checks, gap))
            continue
        seeds = shared_seeds(entering)

        def orders(values: list[Value]) -> list[Less]:
            return ([Less(at, values[0]) for at in values[1:]] if versus_nt else chain(values, increasing))

        verdicts, left_out, judgements = [], [], []
        for k in range(len(grid)):
            at_k = [restrict(v, seeds) for v in values_at(k, category) if v.enters]
            empty = all(v.mean == 0 and not any(v.per_seed) for v in at_k)
            judged = orders(at_k)
            judgement = judge(judged, spec.minimum, formatter(spec.unit))
            judgement.differences = [dataclasses.replace(d, averaged=o.right.mean - o.left.mean)
                                     for d, o in zip(judgement.differences, judged)]
            if judgement.verdict != UNCLEAR and not _sign_agrees(judged, judgement.verdict):
                judgement = Judgement(UNCLEAR, "the profiles averaged over the shared seeds order against it",
                                      judgement.differences)
            left_out.append(empty)
            verdicts.append(UNCLEAR if empty else judgement.verdict)
            judgements.append(judgement)
        evaluation = ThresholdEvaluation(grid=grid, verdicts=verdicts, shown_at=float(grid[k_shown]), left_out=left_out,
                                         default_grid=scope.default_grid)
        verdict, reason = _over_thresholds(evaluation, judgements)
        notes = list(checks.notes) + _seed_note(entering, seeds)
        if not scope.default_grid:
            notes.append(f"thresholds {grid[0]:.3g}-{grid[-1]:.3g} given by --threshold-range, not the default grid")
        out.append(ClaimResult(spec.id, spec.figure, spec.claim, statistic, spec.unit, scope.dataset, scope.model,
                               [restrict(v, seeds, v.mean) if v.enters else v for v in shown], verdict, reason, evaluation,
                               notes, judgements[k_shown].differences, spec.minimum))
    return out


def _sign_agrees(orders: Sequence[Less], verdict: str) -> bool:
    """Whether no ordering of the seed-averaged values (``Value.mean``) goes against ``verdict``."""
    sign = 1 if verdict == HOLDS else -1
    for o in orders:
        left = o.left.mean if isinstance(o.left, Value) else o.left
        right = o.right.mean if isinstance(o.right, Value) else o.right
        if sign * (right - left) < 0:
            return False
    return True


def _over_thresholds(evaluation: ThresholdEvaluation, judgements: list[Judgement]) -> tuple[str, str]:
    """Holds (does not hold) when it does at every threshold left in; otherwise why not, and where it does."""
    grid = evaluation.grid
    span = f"{grid[0]:.3g}-{grid[-1]:.3g}"
    kept = [k for k, out in enumerate(evaluation.left_out) if not out]
    left = len(grid) - len(kept)
    dropped = f"; {left} of {len(grid)} thresholds left out (every share 0)" if left else ""
    if 2 * len(kept) < len(grid):
        return UNCLEAR, f"only {len(kept)} of {len(grid)} thresholds carry information (at the others every compared share is 0)"
    for verdict, sense in ((HOLDS, "ordering"), (FAILS, "reverse ordering")):
        if all(evaluation.verdicts[k] == verdict for k in kept):
            return verdict, f"the {sense} holds at every threshold in {span}{dropped}: {judgements[kept[0]].reason}"

    def text(ranges: list[tuple[float, float]]) -> str:
        return ", ".join(f"{a:.3g}" if a == b else f"{a:.3g}-{b:.3g}" for a, b in ranges)

    first = next(k for k in kept if evaluation.verdicts[k] != HOLDS)
    holds = text(evaluation.ranges(HOLDS))
    where = f" (it holds only at {holds}, which is no verdict)" if holds else ""
    return UNCLEAR, f"at threshold {grid[first]:.3g}: {judgements[first].reason}{where}{dropped}"


# ----------------------------------------------------------------------------- claim 4: CIFAR-10-NEG


def neg_claims(scope: Scope) -> list[ClaimResult]:
    def neg_gap(settings: Sequence[SettingEvidence]) -> str | None:
        if not dataset_info(scope.dataset).has_neg:
            return "no NEG: CIFAR-10-NEG is a CIFAR-10 set"
        lacking = [s.label for s in settings if not s.has_neg]
        return f"no NEG: CIFAR-10-NEG not recorded for {', '.join(lacking)}" if lacking else None

    def fall(s: SettingEvidence) -> Value:  # 4a is about NT: AT and other methods are shown beside it
        return _value(s, [r.neg_fall for r in s.runs], enters=s.paper_method and s.method == "nt")

    settings = scope.original(True) + scope.original(False)
    falls = [fall(s) for s in settings]
    nt = scope.nt
    gap_a = (neg_gap([nt]) if nt is not None else
             f"missing settings: no NT run on the original data; found {_labels(settings)}")  # 4a is about NT alone
    claim_a = _result(SPECS["4a"], scope, falls, lambda v: [Less(MIN_FALL, v[0], label=f"{v[0].label}'s fall − {100 * MIN_FALL:g} pp")],
                      comparable(scope, [nt] if nt else [], by_points=True), gap_a)
    claim_b = _per_setting(scope, SPECS["4b"], lambda s: _value(s, [r.neg_decrease for r in s.runs]), False, False,
                           "NEG records", by_points=True, gap=neg_gap(scope.original(True)))
    return [claim_a, claim_b]


# ----------------------------------------------------------------------------- claim 5: synthesized data, CIFAR-C


def synthetic_claims(scope: Scope) -> list[ClaimResult]:
    tags = scope.synthetic_tags()
    if not tags:
        gap = f"missing settings: no runs with synthesized data for {scope.dataset}"
        return [_result(SPECS[i], scope, [], lambda v: [], Checks(), gap) for i in ("5a", "5b")]
    out = []
    for tag in tags:
        pairs = [(s, scope.on(s, tag)) for s in scope.original(True) + scope.original(False)]
        pairs = [(s, mixed) for s, mixed in pairs if mixed is not None]
        gains = [_gain(s, mixed, tag) for s, mixed in pairs]
        paper = [g for g in gains if g.enters]
        nt = next((g for g in paper if g.method == "nt"), None)
        ats = sorted((g for g in paper if g.method == "at"), key=lambda g: g.epsilon_255)
        values = paper + [g for g in gains if not g.enters]
        info = dataset_info(scope.dataset)
        missing = (_missing_values(paper, "CIFAR-C evaluation (with and without synthesized data)") if info.has_corrupted
                   else f"no CIFAR-C: no corrupted version exists for {info.title}")
        standin = (f"stand-in instead of synthesized data: the '{tag}' runs trained on held-out real images, "
                   "not generated ones") if tag == "standin" else None
        found = ", ".join(g.label for g in paper) or "none"
        entering = [x for s, mixed in pairs if s.paper_method for x in (s, mixed)]
        checks = comparable(scope, entering, by_points=False)
        sources = _source_gap([x for s, mixed in pairs if s.paper_method for x in (s, mixed)])
        gap_a = "; ".join(g for g in (None if len(ats) >= 2 else f"missing settings: needs AT at two or more budgets "
                                      f"with and without '{tag}' data; found {found}", missing, standin, sources) if g) or None
        gap_b = "; ".join(g for g in (None if nt is not None and ats else f"missing settings: needs NT and AT with and "
                                      f"without '{tag}' data; found {found}", missing, standin, sources) if g) or None

        def orders_a(v: list[Value]) -> list[Less]:
            ranked = sorted((x for x in v if x.method == "at"), key=lambda x: x.epsilon_255)
            return [Less(0.0, ranked[0])] + chain(ranked, True)

        def orders_b(v: list[Value]) -> list[Less]:
            size = {x.label: magnitude(x) for x in v}
            base = next(x for x in v if x.method == "nt")
            return [Less(size[base.label], size[x.label]) for x in v if x.method == "at"]

        out.append(_result(SPECS["5a"], scope, values, orders_a, checks, gap_a))
        out.append(_result(SPECS["5b"], scope, values, orders_b, checks, gap_b))
    return out


def magnitude(gain: Value) -> Value:
    """The size of a gain, per seed and per image replicate (claim 5b compares sizes, not signs)."""
    reps = None if gain.replicates is None else np.abs(gain.replicates)
    size = tuple(abs(x) for x in gain.per_seed)
    return Value(f"|{gain.label}|", gain.method, gain.epsilon_255, gain.data, gain.seeds, size,
                 float(np.mean(size)) if size else float("nan"), gain.enters, reps)


def _source_gap(settings: Sequence[SettingEvidence]) -> str | None:
    """Why CIFAR-C accuracies of ``settings`` cannot be subtracted: scored on different files."""
    kinds: dict[str, list[str]] = {}
    for s in settings:
        for r in s.runs:
            if r.cifar_c_kind and np.isfinite(r.cifar_c[0]):
                kinds.setdefault(r.cifar_c_kind, []).append(f"{s.label} seed {r.seed}")
    if len(kinds) > 1:
        parts = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(kinds.items()))
        return f"CIFAR-C scored on different sources ({parts}): accuracies on different files do not subtract"
    return None


def _gain(original: SettingEvidence, mixed: SettingEvidence, tag: str) -> Value:
    """Per seed present in both: CIFAR-C accuracy with ``tag`` data minus on the original data."""
    theirs: dict[int, RunEvidence] = {r.seed: r for r in mixed.runs}
    runs = [r for r in original.runs if r.seed in theirs]
    return _value(original, [theirs[r.seed].cifar_c - r.cifar_c for r in runs],
                  label=f"{original.label}: {tag} - original", seeds=[r.seed for r in runs])


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

