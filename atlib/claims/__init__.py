"""Do these runs reproduce the paper? Each of its claims, tested on any set of runs.

``claims_report(groups)`` (or ``report_for("outputs/runs/*")``) computes every claim's statistic
per setting (mean over seeds with the min-max over seeds) and a verdict: holds, does not hold, or
cannot tell with the reason, by the rule fixed in :mod:`atlib.claims.rule`. The claims and their
statistics are listed in :mod:`atlib.claims.paper`. CLI: ``python -m atlib claims RUNS``.
"""

from atlib.claims.specs import SPECS, ClaimResult, ThresholdEvaluation
from atlib.claims.report import ClaimsReport, claims_report, report_for
from atlib.claims.rule import FAILS, HOLDS, UNCLEAR, VERDICTS, Less, Value, judge

__all__ = ["SPECS", "ClaimResult", "ClaimsReport", "FAILS", "HOLDS", "Less", "ThresholdEvaluation", "UNCLEAR", "VERDICTS",
           "Value", "claims_report", "judge", "report_for"]
