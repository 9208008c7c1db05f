"""The verdict rule, fixed before any run is read, and the statistic of one setting.

A claim is a set of strict orderings between settings' statistics (``a < b``), possibly against a
constant (``0 < gain``). It **holds** when every ordering holds for the mean over seeds and for
every seed; it **does not hold** when every reverse ordering holds likewise; otherwise we **cannot
tell**, and say why. Seeds are matched by their seed number across settings, and only the seeds
that every setting of the claim has take part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

HOLDS, FAILS, UNCLEAR = "holds", "does not hold", "cannot tell"
VERDICTS = (HOLDS, FAILS, UNCLEAR)


@dataclass(frozen=True)
class Value:
    """One setting's statistic: per seed, and the value "over seeds" the rule reads as the mean.

    ``mean`` is the mean of ``per_seed`` for every claim but the point categories, where it is the
    share under the seed-averaged profiles (Appendix B's collection of models; see
    :mod:`atlib.claims.paper`). ``enters`` is False for methods shown beside NT and PGD-AT without
    entering the verdict.
    """

    label: str
    method: str
    epsilon_255: float
    data: str
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    mean: float
    enters: bool = True

    @property
    def low(self) -> float:
        return float(np.min(self.per_seed)) if self.per_seed else float("nan")

    @property
    def high(self) -> float:
        return float(np.max(self.per_seed)) if self.per_seed else float("nan")

    def at_seed(self, seed: int) -> float:
        return self.per_seed[self.seeds.index(seed)]

    def to_dict(self) -> dict:
        """JSON-ready (a missing number is null)."""
        def number(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        return {"label": self.label, "method": self.method, "epsilon_255": self.epsilon_255, "data": self.data,
                "enters": self.enters, "seeds": list(self.seeds), "per_seed": [number(x) for x in self.per_seed],
                "mean": number(self.mean), "min": number(self.low), "max": number(self.high)}


Operand = Value | float


@dataclass(frozen=True)
class Less:
    """The claimed ordering ``left < right``. Its reverse is ``left > right``, or ``left >= right``
    when ``tie_is_reverse``: for a statistic bounded by the constant it is compared with (a fall
    from a peak is never negative), "no fall at all" is the reverse of "a fall"."""

    left: Operand
    right: Operand
    tie_is_reverse: bool = False


def _at(operand: Operand, seed: int | None) -> float:
    if isinstance(operand, Value):
        return operand.mean if seed is None else operand.at_seed(seed)
    return float(operand)


def _state(orders: Sequence[Less], seed: int | None) -> str:
    """HOLDS if every ordering holds at ``seed`` (None: the means), FAILS if every reverse holds, else UNCLEAR."""
    pairs = [(_at(o.left, seed), _at(o.right, seed), o.tie_is_reverse) for o in orders]
    if all(a < b for a, b, _ in pairs):
        return HOLDS
    if all(a > b or (tie and a == b) for a, b, tie in pairs):
        return FAILS
    return UNCLEAR


def shared_seeds(values: Sequence[Value]) -> list[int]:
    """Seed numbers every value has, sorted."""
    common = set(values[0].seeds) if values else set()
    for v in values[1:]:
        common &= set(v.seeds)
    return sorted(common)


def seed_gap(values: Sequence[Value]) -> str | None:
    """Why the per-seed half of the rule cannot be applied (fewer than two shared seeds), or None."""
    seeds = shared_seeds(values)
    if len(seeds) >= 2:
        return None
    single = [v.label for v in values if len(v.seeds) < 2]
    if single:
        return f"one seed: {', '.join(single)} {'has' if len(single) == 1 else 'have'} a single seed; the rule needs two or more"
    return f"one seed: the settings share only seeds {seeds}; the rule needs two or more shared seeds"


def judge(orders: Sequence[Less]) -> tuple[str, str]:
    """The verdict and its reason for a claim made of ``orders`` (see the module docstring)."""
    values = list({id(o): o for op in orders for o in (op.left, op.right) if isinstance(o, Value)}.values())
    gap = seed_gap(values)
    if gap:
        return UNCLEAR, gap
    seeds = shared_seeds(values)
    mean = _state(orders, None)
    per_seed = {s: _state(orders, s) for s in seeds}
    if mean != UNCLEAR and all(state == mean for state in per_seed.values()):
        sense = "ordering" if mean == HOLDS else "reverse ordering"
        return mean, f"the {sense} holds for the mean and each of seeds {seeds}"
    where = {state: [("the mean" if s is None else f"seed {s}") for s, st in [(None, mean), *per_seed.items()] if st == state]
             for state in (HOLDS, FAILS, UNCLEAR)}
    if not where[HOLDS] and not where[FAILS]:
        return UNCLEAR, "neither the ordering nor its reverse holds, for the mean or any seed"
    parts = [f"{text} for {', '.join(where[state])}" for state, text in
             ((HOLDS, "the ordering holds"), (FAILS, "the reverse holds"), (UNCLEAR, "neither holds")) if where[state]]
    return UNCLEAR, "mixed: " + "; ".join(parts)
