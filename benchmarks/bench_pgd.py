"""Time atlib's PGD-10 against torchattacks' PGD on the same model and batch (CPU by default).

torchattacks is a benchmark-only dependency (``pip install torchattacks``); without it this script
says so and exits 0. Both attacks run with eps 8/255, alpha 2/255, 10 steps, random start, model in
eval mode. Runs are interleaved (atlib, torchattacks, atlib, ...) so load from other processes hits
both alike; each figure is the median over ``--repeats`` after ``--warmup`` runs, as wall-clock
time and as this process's CPU time (steadier on a shared machine).

Where the saving comes from: atlib turns ``requires_grad`` off on the parameters during the attack.
In eager mode this changes little, because ``torch.autograd.grad(loss, x_adv)`` already prunes the
weight-gradient kernels; under ``torch.compile`` the compiled backward computes every gradient its
graph was traced with, so torchattacks pays for all weight gradients and atlib (whose frozen
parameters give a graph without them) does not. ``--compile aot_eager`` shows this on CPU without
code generation; ``--compile inductor`` is what a GPU run would use.

    .venv/bin/python benchmarks/bench_pgd.py                       # eager: resnet18 b32, small_cnn b128
    .venv/bin/python benchmarks/bench_pgd.py --compile aot_eager --case resnet18:32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atlib.attacks import pgd  # noqa: E402
from atlib.models import build_model  # noqa: E402

EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 10


def _time(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, float]:
    """(wall-clock, process CPU) seconds for one call."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_case(
    name: str, batch: int, device: torch.device, warmup: int, repeats: int, compile_backend: str | None
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per PGD-10 batch, keyed by "atlib" and "torchattacks"."""
    import torchattacks

    torch.manual_seed(0)
    model = build_model(name, 10).to(device).eval()
    if compile_backend is not None:
        model = torch.compile(model, backend=compile_backend)
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    ta = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    runs = {
        "atlib": lambda: pgd(model, x, y, EPS, alpha=ALPHA, steps=STEPS),
        "torchattacks": lambda: ta(x, y),
    }
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    times: dict[str, list[tuple[float, float]]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, fn in runs.items():
            times[key].append(_time(fn, device))
    return {key: tuple(statistics.median(col) for col in zip(*t)) for key, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", help="MODEL:BATCH, repeatable (default resnet18:32, small_cnn:128)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", metavar="BACKEND", help="torch.compile the model first (aot_eager, inductor)")
    args = parser.parse_args()
    try:
        import torchattacks
    except ImportError:
        print("torchattacks is not installed (pip install torchattacks): nothing to compare against, skipping.")
        return 0

    device = torch.device(args.device)
    cases = args.case or ["resnet18:32", "small_cnn:128"]
    print(
        f"PGD-{STEPS} eps 8/255 alpha 2/255, device {device}, torch {torch.__version__}, "
        f"torchattacks {torchattacks.__version__}, {torch.get_num_threads()} threads, "
        f"median of {args.repeats} after {args.warmup} warm-up, compile: {args.compile or 'no (eager)'}"
    )
    print(f"{'model':<12}{'batch':>6} | {'wall: atlib':>11} {'torchattacks':>12} {'ratio':>6} | "
          f"{'CPU: atlib':>10} {'torchattacks':>12} {'ratio':>6}")
    for case in cases:
        name, batch = case.split(":")
        t = bench_case(name, int(batch), device, args.warmup, args.repeats, args.compile)
        (ours_wall, ours_cpu), (theirs_wall, theirs_cpu) = t["atlib"], t["torchattacks"]
        print(f"{name:<12}{int(batch):>6} | {ours_wall:>10.3f}s {theirs_wall:>11.3f}s {ours_wall / theirs_wall:>6.2f} | "
              f"{ours_cpu:>9.3f}s {theirs_cpu:>11.3f}s {ours_cpu / theirs_cpu:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
