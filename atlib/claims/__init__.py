"""Do these runs reproduce the paper? Each of its claims, tested on any set of runs.

``claims_report(groups)`` (or ``report_for("outputs/runs/*")``) computes every claim's statistic
per setting and seed, with image-resampling replicates (:mod:`atlib.claims.statistics`), and a
verdict: holds, does not hold, or cannot tell with the reason, by the rule fixed in
:mod:`atlib.claims.rule` (paired differences over the shared seeds, intervals that cover seeds and
images, a minimum effect per claim). The claims, their sentences and minimum effects are in
:mod:`atlib.claims.specs`; how often the rule says "holds" on runs with no effect is measured by
:mod:`atlib.claims.calibration`. CLI: ``python -m atlib claims RUNS``.
"""

from atlib.lazy import lazy_names

_NAMES = {  # name: the submodule defining it, imported on first use
    **dict.fromkeys(["ClaimResult", "SPECS", "ThresholdEvaluation"], "specs"),
    **dict.fromkeys(["ClaimsReport", "claims_report", "report_for"], "report"),
    **dict.fromkeys(["FAILS", "HOLDS", "Less", "UNCLEAR", "VERDICTS", "Value", "judge"], "rule"),
}
__getattr__ = lazy_names(__name__, _NAMES)
__all__ = sorted(_NAMES)
