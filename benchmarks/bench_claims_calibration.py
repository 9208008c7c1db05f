"""Calibration of the claims rule: false holds under no effect, power under the paper's effect, does-not-hold
under the reverse, per claim and shape, each with its Monte Carlo standard error, and the wall time.

Runs are simulated at three shapes (:data:`atlib.claims.calibration.SHAPES`: the demo's, the study's and the
paper grid's), as per-image quantities that pass through the report's own statistic and rule code
(:mod:`atlib.claims.calibration`). For each claim, the false-hold rate is the largest over the worlds in which
that claim has no effect (``null``, and ``trap`` for the claims it is a null of). Also prints the 95th
percentile of claim 4a's fall on flat NEG curves at each shape, which the minimum fall (5 pp) must exceed.
The seeds differ from the test's (tests/test_claims.py), so the rule is not fitted to its draws.
Writes ``outputs/benchmarks/claims_calibration.json``.

    python benchmarks/bench_claims_calibration.py                      # 500 draws per world and shape
    python benchmarks/bench_claims_calibration.py --draws 50 --shapes demo
    python benchmarks/bench_claims_calibration.py --shapes paper --workers 2   # the worlds in 2 processes

Each world is seeded on its own, so the rates do not depend on ``--workers``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import platform
import time
from pathlib import Path

import numpy as np

from atlib.claims import calibration
from atlib.claims.rule import FAILS, HOLDS
from atlib.claims.specs import MIN_FALL
from atlib.store.io import write_json

REPO = Path(__file__).resolve().parents[1]
SEED = 2026  # not the test's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(calibration.SHAPES), choices=list(calibration.SHAPES))
    parser.add_argument("--draws", type=int, default=500, help="draws per world and shape (default 500)")
    parser.add_argument("--paper-draws", type=int, help="draws per world at the paper's shape (default: --draws)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes, each simulating one world at a time with one thread (default: one per core)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # the workers inherit it
        os.environ[var] = "1"
    pool = cf.ProcessPoolExecutor(max(1, args.workers), mp_context=multiprocessing.get_context("spawn"))
    load = os.getloadavg()[0]
    print(f"# claims calibration: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.workers} workers, load average {load:.1f} at the start\n")
    results = {"load_at_start": load, "cores": os.cpu_count(), "workers": args.workers, "shapes": {}}
    for name in args.shapes:
        shape = calibration.SHAPES[name]
        draws = args.paper_draws if name == "paper" and args.paper_draws else args.draws
        start = time.time()
        pending = {w: pool.submit(calibration.run_world, shape, w, draws, args.seed) for w in calibration.WORLDS}
        falls = pool.submit(calibration.flat_fall, shape, draws, args.seed).result()
        worlds = {w: future.result() for w, future in pending.items()}
        seconds = time.time() - start
        rows = {}
        print(f"## {name}: {shape.points} points, {shape.seeds} seeds, {shape.images:,} images, NT + "
              f"{len(shape.budgets)} budgets; {draws} draws per world, {seconds:.0f} s "
              f"(load {os.getloadavg()[0]:.1f} at the end)\n")
        print("| claim | false holds (world) | does not hold, no effect | power (paper's effect) | "
              "does not hold, reverse |")
        print("| --- | --- | --- | --- | --- |")
        for claim in calibration.CLAIMS:
            nulls = ["null"] + (["trap"] if claim in calibration.TRAP_NULLS else [])
            false_world = max(nulls, key=lambda w: worlds[w][claim].holds)
            fails_world = max(nulls, key=lambda w: worlds[w][claim].fails)
            row = {"false_holds": worlds[false_world][claim].rate(HOLDS), "false_world": false_world,
                   "null_fails": worlds[fails_world][claim].rate(FAILS), "power": worlds["paper"][claim].rate(HOLDS),
                   "reverse_fails": worlds["reverse"][claim].rate(FAILS)}
            rows[claim] = row

            def pct(rate: tuple[float, float]) -> str:
                return f"{100 * rate[0]:.1f} ± {100 * rate[1]:.1f} %"
            print(f"| {claim} | {pct(row['false_holds'])} ({false_world}) | {pct(row['null_fails'])} | "
                  f"{pct(row['power'])} | {pct(row['reverse_fails'])} |")
        p95 = float(np.percentile(falls, 95))
        print(f"\n4a on flat NEG curves: median fall {100 * np.median(falls):.2f} pp, 95th percentile {100 * p95:.2f} pp "
              f"(minimum fall {100 * MIN_FALL:g} pp)\n")
        results["shapes"][name] = {"draws": draws, "seconds": seconds, "claims": rows,
                                   "flat_fall_p95": p95, "flat_fall_median": float(np.median(falls))}
    pool.shutdown()
    out = REPO / "outputs" / "benchmarks" / "claims_calibration.json"
    write_json(out, results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
