"""The verdict rule, fixed before any run is read.

A claim is a set of strict orderings between settings' statistics (``left < right``, possibly
against a constant), judged on the seeds that every setting of the claim has (and on no other).
For each ordering the paired difference ``right - left`` is taken per shared seed, and its
interval combines the two sources of error, which do not overlap:

- the seeds: a t-interval on the per-seed paired differences with (seeds - 1) degrees of freedom
  (every seed is scored on the same images, so their spread holds no image sampling error);
- the images: the standard deviation, over the image resamples of :mod:`atlib.claims.statistics`
  (one resample applied to every run), of the seed-mean difference.

The interval is ``d ± sqrt((t·se_seeds)² + (z·se_images)²)``, each end a one-sided bound at
:data:`CONFIDENCE`. A claim **holds** when, for every ordering, every shared seed orders as claimed
and the interval lies above 0, and for every ordering that carries the claim's effect the
interval's near end reaches the claim's minimum effect. It **does not hold** when the mirror is
true (every seed and interval reversed, the far end at or below minus the minimum). Otherwise we
**cannot tell**, and say why.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
from scipy import stats

HOLDS, FAILS, UNCLEAR = "holds", "does not hold", "cannot tell"
VERDICTS = (HOLDS, FAILS, UNCLEAR)
CONFIDENCE = 0.95  # each end of an interval is a one-sided bound at this level


@dataclass(frozen=True, eq=False)
class Value:
    """One setting's statistic: per seed, with image replicates, and the value "over seeds" shown.

    ``replicates`` (seeds, B): each seed's statistic under the report's B image resamples (None: no
    image error). ``mean`` is the mean of ``per_seed``, except for the point categories, where it
    is the share under the profiles averaged over the same seeds (:mod:`atlib.claims.paper`).
    ``enters`` is False for methods shown beside NT and PGD-AT without entering the verdict.
    """

    label: str
    method: str
    epsilon_255: float
    data: str
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    mean: float
    enters: bool = True
    replicates: np.ndarray | None = None

    @property
    def low(self) -> float:
        return float(np.min(self.per_seed)) if self.per_seed else float("nan")

    @property
    def high(self) -> float:
        return float(np.max(self.per_seed)) if self.per_seed else float("nan")

    def at_seed(self, seed: int) -> float:
        return self.per_seed[self.seeds.index(seed)]

    def replicates_at(self, seed: int) -> np.ndarray | None:
        return None if self.replicates is None else self.replicates[self.seeds.index(seed)]

    def interval(self) -> tuple[float, float]:
        """The interval of this setting's own mean over its seeds (seeds and images), for charts."""
        if len(self.seeds) < 2:
            return float("nan"), float("nan")
        mean = float(np.mean(self.per_seed))
        reps = None if self.replicates is None else self.replicates.mean(axis=0)
        half = _half_width(list(self.per_seed), reps)
        return mean - half, mean + half

    def to_dict(self) -> dict:
        """JSON-ready (a missing number is null)."""
        low, high = self.interval()
        return {"label": self.label, "method": self.method, "epsilon_255": self.epsilon_255, "data": self.data,
                "enters": self.enters, "seeds": list(self.seeds), "per_seed": [number(x) for x in self.per_seed],
                "mean": number(self.mean), "min": number(self.low), "max": number(self.high),
                "interval": [number(low), number(high)]}


def number(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


Operand = Value | float


@dataclass(frozen=True, eq=False)
class Less:
    """The claimed ordering ``left < right``; ``effect``: this difference must reach the claim's minimum."""

    left: Operand
    right: Operand
    effect: bool = True
    label: str | None = None  # how the difference is named (default "right − left")

    @property
    def name(self) -> str:
        def text(o: Operand) -> str:
            return o.label if isinstance(o, Value) else f"{o:g}"
        return self.label or f"{text(self.right)} − {text(self.left)}"


@dataclass(frozen=True)
class Difference:
    """One ordering's paired difference ``right - left`` over the shared seeds, with its interval."""

    name: str
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    estimate: float
    low: float
    high: float
    minimum: float  # what the near end must reach (0 for an ordering that carries no effect)
    averaged: float | None = None  # 3a-3c: the difference of the shares under seed-averaged profiles (sign check)

    def to_dict(self) -> dict:
        return {"name": self.name, "seeds": list(self.seeds), "per_seed": [number(x) for x in self.per_seed],
                "estimate": number(self.estimate), "low": number(self.low), "high": number(self.high),
                "minimum": self.minimum, "averaged": None if self.averaged is None else number(self.averaged)}


@dataclass
class Judgement:
    verdict: str
    reason: str
    differences: list[Difference] = field(default_factory=list)


@functools.cache
def _quantile(dof: int | None) -> float:
    """The one-sided :data:`CONFIDENCE` quantile of Student's t with ``dof`` degrees of freedom (None: normal)."""
    return float(stats.norm.ppf(CONFIDENCE) if dof is None else stats.t.ppf(CONFIDENCE, dof))


def _half_width(per_seed: np.ndarray, replicates: np.ndarray | None) -> float:
    """Half-width of the interval of the mean of ``per_seed`` (see the module docstring)."""
    k = len(per_seed)
    mean = sum(per_seed) / k
    spread = math.sqrt(sum((x - mean) ** 2 for x in per_seed) / (k - 1))
    seeds = _quantile(k - 1) * spread / math.sqrt(k)
    images = 0.0
    if replicates is not None and len(replicates) > 1:
        images = _quantile(None) * float(replicates.std(ddof=1))
    return math.hypot(seeds, images)


def _at(operand: Operand, seed: int) -> tuple[float, np.ndarray | None]:
    if isinstance(operand, Value):
        return operand.at_seed(seed), operand.replicates_at(seed)
    return float(operand), None


def difference(order: Less, seeds: Sequence[int], minimum: float) -> Difference:
    """The paired difference of ``order`` on ``seeds`` and its interval."""
    per_seed, reps = [], None
    for s in seeds:
        (a, ra), (b, rb) = _at(order.left, s), _at(order.right, s)
        per_seed.append(b - a)
        if ra is not None or rb is not None:
            step = (rb if rb is not None else b) - (ra if ra is not None else a)
            reps = step if reps is None else reps + step
    replicates = None if reps is None else reps / len(seeds)
    half = _half_width(per_seed, replicates)
    estimate = sum(per_seed) / len(per_seed)
    return Difference(order.name, tuple(seeds), tuple(float(x) for x in per_seed), estimate, estimate - half,
                      estimate + half, minimum if order.effect else 0.0)


def values_of(orders: Sequence[Less]) -> list[Value]:
    return list({id(o): o for op in orders for o in (op.left, op.right) if isinstance(o, Value)}.values())


class HasSeeds(Protocol):
    @property
    def seeds(self) -> Iterable[int]: ...


def shared_seeds(values: Sequence[HasSeeds]) -> list[int]:
    """Seed numbers every value (or setting) has, sorted."""
    common = set(values[0].seeds) if values else set()
    for v in values[1:]:
        common &= set(v.seeds)
    return sorted(common)


def seed_gap(values: Sequence[Value]) -> str | None:
    """Why no interval can be formed (fewer than two shared seeds), or None."""
    seeds = shared_seeds(values)
    if len(seeds) >= 2:
        return None
    single = [v.label for v in values if len(v.seeds) < 2]
    if single:
        return f"one seed: {', '.join(single)} {'has' if len(single) == 1 else 'have'} a single seed; the rule needs two or more"
    return f"one seed: the settings share only seeds {seeds}; the rule needs two or more shared seeds"


def judge(orders: Sequence[Less], minimum: float, fmt: Callable[[float], str] = lambda x: f"{x:+.3g}") -> Judgement:
    """The verdict, its reason and the differences it read, for a claim made of ``orders`` whose
    effect orderings must reach ``minimum`` (see the module docstring); ``fmt`` writes a difference."""
    values = values_of(orders)
    gap = seed_gap(values)
    if gap:
        return Judgement(UNCLEAR, gap)
    seeds = shared_seeds(values)
    diffs = [difference(o, seeds, minimum) for o in orders]

    def text(d: Difference) -> str:
        return f"{d.name} {fmt(d.estimate)} [{fmt(d.low)}, {fmt(d.high)}]"

    holds = [_fails_to_hold(d, +1, fmt) for d in diffs]
    if not any(holds):
        need = f", each effect's near end at least {fmt(minimum)}" if minimum else ""
        return Judgement(HOLDS, f"every ordering holds on seeds {seeds}, each interval above 0{need}", diffs)
    reverse = [_fails_to_hold(d, -1, fmt) for d in diffs]
    if not any(reverse):
        need = f", each effect's far end at most {fmt(-minimum)}" if minimum else ""
        return Judgement(FAILS, f"every reverse ordering holds on seeds {seeds}, each interval below 0{need}", diffs)
    k = next(i for i, why in enumerate(holds) if why)
    return Judgement(UNCLEAR, f"{text(diffs[k])}: {holds[k]}", diffs)


def _fails_to_hold(d: Difference, sign: int, fmt: Callable[[float], str]) -> str | None:
    """Why ``d`` does not support the ordering (``sign`` +1) or its reverse (-1), or None if it does."""
    against = [s for s, x in zip(d.seeds, d.per_seed) if not sign * x > 0]
    if against:
        return f"seed{'s' if len(against) > 1 else ''} {', '.join(map(str, against))} {'order' if len(against) > 1 else 'orders'} against it"
    near = d.low if sign > 0 else -d.high
    if not near > 0:
        return "the interval includes 0"
    if near < d.minimum:
        return f"the near end is {fmt(sign * near)}, short of the minimum effect {fmt(sign * d.minimum)}"
    return None
