"""``--help`` of every command-line tool: wall and CPU seconds, best of a few runs. Target: under 1 s each.

Each command is run as its own process (``python -m MODULE --help``), as a user runs it; the CPU time
(user + system of the child) shows the work done, the wall time what the user waits on a loaded machine.

    python benchmarks/bench_cli.py            # 3 runs each
    python benchmarks/bench_cli.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from atlib.__main__ import COMMANDS

REPO = Path(__file__).resolve().parents[1]


def measure(module: str, runs: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) of ``python -m module --help``."""
    walls, cpus = [], []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    print(f"{'command':<20} {'wall s':>7} {'cpu s':>7}")
    for module in ["atlib", *dict.fromkeys(m for m, _ in COMMANDS.values())]:
        wall, cpu = measure(module, runs)
        print(f"{module:<20} {wall:7.2f} {cpu:7.2f}")


if __name__ == "__main__":
    main()
