"""What each of the paper's claims says and measures (:data:`SPECS`), and one judged claim (:class:`ClaimResult`).

| id | paper | claim | statistic per seed |
| --- | --- | --- | --- |
| 1a | Fig 1a | AT's test entropies are higher than NT's (every AT ε) | mean entropy of the test predictions at the last record point |
| 1b | Fig 1a | AT's test entropies are more spread than NT's | their interquartile range |
| 2 | Fig 1b | the larger ε, the slower the mean entropy falls | area under the mean-entropy curve over normalized training time, as a share of log C |
| 3a | Fig 2-3 | NT has a large non-monotone share: larger than AT's at every ε | non-monotone share |
| 3b | Fig 3 | the non-monotone share falls as ε grows (NT at ε = 0) | non-monotone share |
| 3c | Fig 3 | the hard share rises as ε grows (the monotonicity-hardness trade-off) | hard share |
| 4a | Fig 4 | NT's CIFAR-10-NEG accuracy rises, then falls from its peak while test accuracy still rises | the fall |
| 4b | Fig 4 | the larger ε, the steadier the NEG accuracy | its total decrease over training |
| 5a | Fig 5 | with synthesized data AT's CIFAR-C accuracy rises, more so at larger ε | CIFAR-C gain over the same seed on the original data |
| 5b | Fig 5 | NT's CIFAR-C accuracy changes less than AT's | the same gain |
| 6a | §4.3, §5 | larger ε gives higher robust accuracy (PGD at 8/255) | robust accuracy |
| 6b | §4.3, §5 | larger ε gives lower clean accuracy | clean accuracy |

"As ε grows" claims (2, 3b, 3c, 4b, 6) put NT at ε = 0 and need NT and at least two AT budgets.
Point categories (3) are evaluated at every threshold of a grid; a claim holds when it holds at
every threshold. Their value "over seeds" is the share under the seed-averaged profiles, as
Appendix B and Fig 2-3 define it (a collection of models), and each seed's value the share under
that seed's own profile. Every other value over seeds is the mean of the per-seed values.
Claims 1-4 and 6 compare runs on the original data; NT and PGD-AT enter the verdicts, other
methods are shown beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atlib.claims.rule import FAILS, HOLDS, Value


@dataclass(frozen=True)
class Spec:
    """A claim as the report names it: its id, the paper's figure, the statement, the statistic and its unit."""

    id: str
    figure: str
    claim: str
    statistic: str
    unit: str


SPECS = {s.id: s for s in (
    Spec("1a", "Fig 1a", "AT's test entropies are higher than NT's, at every ε",
         "mean entropy of the test predictions at the last record point", "nats"),
    Spec("1b", "Fig 1a", "AT's test entropies are more spread than NT's, at every ε",
         "interquartile range of the test entropies at the last record point", "nats"),
    Spec("2", "Fig 1b", "The larger the ε, the slower the mean entropy falls",
         "area under the mean-entropy curve over normalized training time, as a share of log C", "share"),
    Spec("3a", "Fig 2-3", "NT has a large non-monotone share: larger than AT's at every ε",
         "non-monotone share of the test points", "%"),
    Spec("3b", "Fig 3", "The non-monotone share falls as ε grows (NT at ε = 0)", "non-monotone share of the test points", "%"),
    Spec("3c", "Fig 3", "The hard share rises as ε grows: the monotonicity-hardness trade-off", "hard share of the test points", "%"),
    Spec("4a", "Fig 4", "NT's CIFAR-10-NEG accuracy rises, then falls from its peak while test accuracy still rises",
         "fall of NEG accuracy from its peak to its lowest later value at which test accuracy is higher "
         "than at the peak (0 if it never rises or never falls so)", "drop"),
    Spec("4b", "Fig 4", "The larger the ε, the steadier the CIFAR-10-NEG accuracy",
         "total decrease of NEG accuracy over training (sum of its drops between record points)", "drop"),
    Spec("5a", "Fig 5", "With synthesized data, AT's CIFAR-C accuracy rises, more so at larger ε",
         "CIFAR-C accuracy (19 corruptions) with synthesized data minus the same seed's on the original data", "gain"),
    Spec("5b", "Fig 5", "With synthesized data, NT's CIFAR-C accuracy changes less than AT's, at every ε",
         "CIFAR-C accuracy (19 corruptions) with synthesized data minus the same seed's on the original data", "gain"),
    Spec("6a", "§4.3, §5", "Larger ε gives higher robust accuracy", "PGD accuracy at ε = 8/255 of the final model", "accuracy"),
    Spec("6b", "§4.3, §5", "Larger ε gives lower clean accuracy", "clean test accuracy of the final model", "accuracy"),
)}


@dataclass
class ThresholdEvaluation:
    """A point-category claim judged at every threshold of ``grid``; values are shown at ``shown_at``."""

    grid: np.ndarray
    verdicts: list[str]
    shown_at: float

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

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("id", "figure", "claim", "statistic", "unit", "dataset", "model", "verdict", "reason", "notes")}
        out["values"] = [v.to_dict() for v in self.values]
        out["thresholds"] = self.thresholds.to_dict() if self.thresholds else None
        return out
