"""What each of the paper's claims says and measures (:data:`SPECS`), and one judged claim (:class:`ClaimResult`).

Each spec holds the paper's sentence, the statistic that tests it, and the minimum effect a
difference must reach (its interval's near end; :mod:`atlib.claims.rule`), in the statistic's
units, with the reason for its size. They are fixed before any run is read. docs/claims.md sets
them side by side.

"As ε grows" claims (2, 3b, 3c, 4b, 5a, 6a, 6b) put NT at ε = 0 and need NT and at least two AT
budgets: every adjacent pair must order as claimed (sign: every seed and its interval), and the
span of the chain (smallest to largest ε) must reach the minimum effect. Claims against NT (1a,
1b, 3a, 5b) need every pair to reach it. Point categories (3) are judged at every threshold of a
grid and hold when they hold at every informative threshold. Claims 1-4 and 6 compare runs on the
original data; NT and PGD-AT enter the verdicts, other methods are shown beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atlib.claims.rule import FAILS, HOLDS, Difference, Value

MIN_FALL = 0.05  # claim 4a: NT's NEG accuracy must fall at least 5 pp (the interval's lower end)
MIN_ENTROPY_FALL = 0.1  # claim 2: a curve that falls less than this share of log C has no rate


@dataclass(frozen=True)
class Spec:
    """A claim as the report names it: its id, the paper's figure and sentence, the statement, the
    statistic, its unit, the minimum effect (statistic units) and why it is that large."""

    id: str
    figure: str
    sentence: str
    claim: str
    statistic: str
    unit: str
    minimum: float
    why: str


SPECS = {s.id: s for s in (
    Spec("1a", "Fig 1a", "AT models have higher and more spread-out entropy values, indicating more cautious predictions.",
         "AT's test entropies are higher than NT's, at every ε",
         "mean entropy of the test predictions at the last record point", "nats", 0.05,
         "a twentieth of a nat (2 % of log 10): below it, entropies differ by less than a shift of a few "
         "predictions from confident to unsure"),
    Spec("1b", "Fig 1a", "AT models have higher and more spread-out entropy values, indicating more cautious predictions.",
         "AT's test entropies are more spread than NT's, at every ε",
         "interquartile range of the test entropies at the last record point", "nats", 0.05, "as 1a"),
    Spec("2", "Fig 1b", "Notably, models trained with larger ϵ exhibit a slower decrease in entropy over training steps.",
         "The larger the ε, the slower the mean entropy falls",
         "rate: area of (H(t) - H_end) / (H_0 - H_end) over training time scaled to [0, 1], with H_0 = log C "
         "(the untrained model) at time 0; 0 falls at once, larger falls more slowly", "share", 0.03,
         "3 % of training time over the span NT to the largest ε: a fall delayed by less than that is within "
         "the jitter of a curve recorded a few times per epoch"),
    Spec("3a", "Fig 2-3", "Our observations, consistent with (Kaplun et al., 2022), reveal significant levels of "
         "non-monotonicity in NT. [...] AT exhibits more monotonic behavior",
         "NT has a larger non-monotone share than AT, at every ε", "non-monotone share of the test points", "%", 1.0,
         "1 pp of the test points, per pair and threshold: 10 images of the demo's 1,000"),
    Spec("3b", "Fig 3", "This behavior becomes more pronounced with larger ϵ, showing a positive correlation between "
         "the ϵ used for AEs and monotonicity.", "The non-monotone share falls as ε grows (NT at ε = 0)",
         "non-monotone share of the test points", "%", 1.0, "as 3a, over the span of the chain"),
    Spec("3c", "Fig 3", "However, this also presents a trade-off between monotonicity and hardness.",
         "The hard share rises as ε grows: the monotonicity-hardness trade-off", "hard share of the test points", "%", 1.0,
         "as 3a, over the span of the chain"),
    Spec("4a", "Fig 4", "we observe a rise and decline in performance on CIFAR-10-neg until it reaches about 25% accuracy",
         f"NT's CIFAR-10-NEG accuracy rises, then falls by at least {100 * MIN_FALL:g} pp from its peak while test "
         "accuracy still rises",
         "fall of NEG accuracy from its peak (after, and above, the first record point) to its lowest later value "
         "at which test accuracy is higher than at the peak (0 if none)", "drop", 0.0,
         f"the fall itself must exceed {100 * MIN_FALL:g} pp (interval's lower end): over 3 binomial standard errors "
         "of 1,000 NEG images (1.5 pp), and above the 95th percentile of the fall a flat curve shows at every "
         "calibrated shape (docs/claims.md); the paper's fall is about 35 pp (60 % to 25 %)"),
    Spec("4b", "Fig 4", "Larger ϵ values used for AEs led to gains in both stable accuracy improvement on CIFAR-10-NEG "
         "and higher accuracy overall.", "The larger the ε, the steadier the CIFAR-10-NEG accuracy",
         "total decrease of NEG accuracy over training (sum of its drops between record points)", "drop", 0.02,
         "2 pp over the span of the chain: above the binomial error of a single NEG curve point"),
    Spec("5a", "Fig 5", "AT models with synthesized data (blue line) consistently outperform those with original data "
         "(red line), especially at higher ϵ values.", "With synthesized data, AT's CIFAR-C accuracy rises, more so at larger ε",
         "CIFAR-C accuracy (19 corruptions) with synthesized data minus the same seed's on the original data", "gain", 0.01,
         "1 pp: for the gain at the smallest ε and for the span of the chain"),
    Spec("5b", "Fig 5", "We do not observe significant performance improvements when using synthesized data for NT",
         "With synthesized data, NT's CIFAR-C accuracy changes less than AT's, at every ε",
         "size of the CIFAR-C gain from synthesized data, |with - without| of the same seed", "gain", 0.01,
         "1 pp between the sizes of the gains"),
    Spec("6a", "§4.3, §5", "increasing the attack strength ϵ in AT leads to an overall performance drop, despite "
         "increasing robustness", "Larger ε gives higher robust accuracy", "PGD accuracy at ε = 8/255 of the final model",
         "accuracy", 0.02, "2 pp over the span of the chain"),
    Spec("6b", "§4.3, §5", "increasing the attack strength ϵ in AT leads to an overall performance drop",
         "Larger ε gives lower clean accuracy", "clean test accuracy of the final model", "accuracy", 0.02,
         "2 pp over the span of the chain"),
)}


@dataclass
class ThresholdEvaluation:
    """A point-category claim judged at every threshold of ``grid``; values are shown at ``shown_at``."""

    grid: np.ndarray
    verdicts: list[str]
    shown_at: float
    left_out: list[bool]  # thresholds at which every compared share is 0: no information, not judged
    default_grid: bool = True  # False: a --threshold-range other than the default grid

    def ranges(self, verdict: str) -> list[tuple[float, float]]:
        """Maximal runs of consecutive grid thresholds with ``verdict``, as (first, last)."""
        out: list[tuple[float, float]] = []
        for k, (th, v) in enumerate(zip(self.grid, self.verdicts)):
            if v != verdict:
                continue
            if k > 0 and self.verdicts[k - 1] == verdict:
                out[-1] = (out[-1][0], float(th))
            else:
                out.append((float(th), float(th)))
        return out

    def to_dict(self) -> dict:
        return {"grid": [float(t) for t in self.grid], "verdicts": self.verdicts, "shown_at": self.shown_at,
                "left_out": self.left_out, "default_grid": self.default_grid,
                "holds": self.ranges(HOLDS), "reverse_holds": self.ranges(FAILS)}


@dataclass
class ClaimResult:
    """One row of the report: a claim, on one dataset and model, with its statistics and verdict."""

    id: str
    figure: str
    claim: str
    statistic: str
    unit: str  # how values read: "nats", "share", "%", "accuracy" (a fraction), "drop" or "gain" (accuracy differences)
    dataset: str
    model: str
    values: list[Value]
    verdict: str
    reason: str
    thresholds: ThresholdEvaluation | None = None
    notes: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)  # what the verdict read (3a-3c: at shown_at)
    minimum: float = 0.0

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("id", "figure", "claim", "statistic", "unit", "dataset", "model", "verdict",
                                             "reason", "notes", "minimum")}
        out["differences"] = [d.to_dict() for d in self.differences]
        out["values"] = [v.to_dict() for v in self.values]
        out["thresholds"] = self.thresholds.to_dict() if self.thresholds else None
        return out
