"""Do these runs reproduce the paper? Each of its claims, tested on any set of runs.

``claims_report(groups)`` (or ``report_for("outputs/runs/*")``) computes every claim's statistic
per setting (mean over seeds with the min-max over seeds) and a verdict: holds, does not hold, or
cannot tell with the reason, by the rule fixed in :mod:`atlib.claims.rule`. The claims and their
statistics are listed in :mod:`atlib.claims.paper`. CLI: ``python -m atlib claims RUNS``.
"""

from atlib.lazy import lazy_names

_NAMES = {  # name: the submodule defining it, imported on first use
    **dict.fromkeys(["ClaimResult", "SPECS", "ThresholdEvaluation"], "specs"),
    **dict.fromkeys(["ClaimsReport", "claims_report", "report_for"], "report"),
    **dict.fromkeys(["FAILS", "HOLDS", "Less", "UNCLEAR", "VERDICTS", "Value", "judge"], "rule"),
}
__getattr__ = lazy_names(__name__, _NAMES)
__all__ = sorted(_NAMES)
