"""``python -m atlib claims RUNS [--markdown] [--json FILE] [--threshold-range LOW HIGH] [--allow-mixed-recipes]``:
the claims table of a set of runs (a terminal table by default, the full rows as Markdown)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from atlib.cli import command


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlib claims",
                                     description="Does a set of runs reproduce the paper's claims? One row per claim, "
                                                 "with the statistic per setting and a verdict.")
    parser.add_argument("runs", nargs="+", help="a folder of runs, a glob (quoted) or run folders")
    parser.add_argument("--threshold-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="non-monotonicity thresholds (total confidence drop) claims 3a-3c are judged over "
                             "(default: atlib.metrics.RELATIVE_RANGE times atlib.metrics.default_threshold "
                             "for the runs' number of record points)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the full rows (every setting's statistic, every difference and interval, the reasons) "
                             "as a Markdown table instead of the terminal table")
    parser.add_argument("--allow-mixed-recipes", action="store_true",
                        help="judge settings trained or measured with different recipes (epochs, lr, subsets, ...) "
                             "and note the differences beside the verdict, instead of answering cannot tell")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("--workers", type=int, help="threads reading runs (default: one per CPU core)")
    args = parser.parse_args(argv)
    from atlib.claims.report import report_for  # the analysis stack loads only when a command runs
    from atlib.store.io import write_json
    from atlib.store.layout import CONFIG
    from atlib.store.runs import find_run_dirs

    if not find_run_dirs(args.runs):
        raise FileNotFoundError(f"no run folders (folders holding a {CONFIG}) at {' '.join(args.runs)}: give a folder "
                                "of runs, run folders or a quoted glob, e.g. 'outputs/runs/*'")

    report = report_for(args.runs, tuple(args.threshold_range) if args.threshold_range else None, args.workers,
                        args.allow_mixed_recipes)
    print(report.markdown() if args.markdown else report.table())
    if args.json:
        write_json(args.json, report.to_dict())
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
