"""Time atlib's PGD-10 against torchattacks' PGD on the same model and batch (CPU by default).

torchattacks is a benchmark-only dependency (``pip install torchattacks``); without it this script
says so and exits 0. Both attacks run with eps 8/255, alpha 2/255, 10 steps, random start, model in
eval mode. Runs are interleaved (atlib, torchattacks, atlib, ...) so load from other processes hits
both alike; each figure is the median over ``--repeats`` after ``--warmup`` runs.

    .venv/bin/python benchmarks/bench_pgd.py                       # resnet18 b32 and small_cnn b128
    .venv/bin/python benchmarks/bench_pgd.py --case resnet18:64 --repeats 9
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


def _time(fn: Callable[[], torch.Tensor], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_case(name: str, batch: int, device: torch.device, warmup: int, repeats: int) -> tuple[float, float]:
    """Median seconds per PGD-10 batch for (atlib, torchattacks)."""
    import torchattacks

    torch.manual_seed(0)
    model = build_model(name, 10).to(device).eval()
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
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, fn in runs.items():
            times[key].append(_time(fn, device))
    return statistics.median(times["atlib"]), statistics.median(times["torchattacks"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", help="MODEL:BATCH, repeatable (default resnet18:32, small_cnn:128)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
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
        f"median of {args.repeats} after {args.warmup} warm-up"
    )
    print(f"{'model':<16}{'batch':>6}{'atlib s':>10}{'torchattacks s':>16}{'ratio':>8}")
    for case in cases:
        name, batch = case.split(":")
        ours, theirs = bench_case(name, int(batch), device, args.warmup, args.repeats)
        print(f"{name:<16}{int(batch):>6}{ours:>10.3f}{theirs:>16.3f}{ours / theirs:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
