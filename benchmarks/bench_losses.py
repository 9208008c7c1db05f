"""Training-step throughput (img/s) of every training method, and of AWP and weight EMA on top.

Times the step the loop runs with :class:`atlib.losses.MethodLoss` (attack, objective, backward,
SGD step) on random CIFAR-sized batches, so no dataset is needed. Expected costs relative to AT
(PGD-10, 11 forward-backward passes): TRADES and MART one extra forward (and backward) per step,
FGSM-RS about 2/11 of AT's passes, NT one pass. Prints a table and writes ``outputs/benchmarks/losses.json``.

    python benchmarks/bench_losses.py                         # CPU: small_cnn, batch 128
    python benchmarks/bench_losses.py --model resnet18 --device cuda --steps 20
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from atlib.awp import AWP
from atlib.ema import ema_model
from atlib.io import write_json
from atlib.losses import METHODS, MethodLoss
from atlib.models import build_model

EPS = 8 / 255


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_method(method: str, model_name: str, device: torch.device, batch_size: int, steps: int, warmup: int,
                awp: bool = False, ema: bool = False) -> float:
    """Images per second of ``steps`` training steps after ``warmup`` untimed ones."""
    torch.manual_seed(0)
    model = build_model(model_name, 10).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss = MethodLoss(method, eps=0.0 if method == "nt" else EPS, steps=10)
    perturbation = AWP(model, method) if awp else None
    average = ema_model(model, 0.999) if ema else None
    autocast = device.type == "cuda"
    x = torch.rand(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            x_adv = loss.attack(model, x, y)
            model.train()
            context = (perturbation.perturbed(0, lambda m: loss.objective(m, x, x_adv, y).loss) if perturbation
                       else contextlib.nullcontext())
            with context:
                out = loss.objective(model, x, x_adv, y)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                optimizer.step()
        if average is not None:
            average.update_parameters(model)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default=None, help="default: resnet18 on CUDA, small_cnn on CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 30 on CUDA, 3 on CPU)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds over the methods; the best counts")
    parser.add_argument("--out", default="outputs/benchmarks/losses.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model = args.model or ("resnet18" if cuda else "small_cnn")
    steps, warmup = args.steps or (30 if cuda else 3), 5 if cuda else 1
    rows = [(m, False, False) for m in METHODS] + [("at", True, False), ("trades", True, False), ("at", False, True)]
    print(f"{model} on {device}, batch {args.batch_size}, PGD-10 for at/trades/mart, {steps} timed steps, "
          f"best of {args.repeats} rounds")
    speeds: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved rounds, best of each: robust to load from other processes
        for method, awp, ema in rows:
            label = method + (" + AWP" if awp else "") + (" + EMA" if ema else "")
            speeds.setdefault(label, []).append(time_method(method, model, device, args.batch_size, steps, warmup,
                                                            awp=awp, ema=ema))
    results = [{"method": label, "img_per_s": max(v), "runs": v} for label, v in speeds.items()]
    at_speed = next(r["img_per_s"] for r in results if r["method"] == "at")
    print(f"{'method':<14} {'img/s':>9} {'vs AT':>7}")
    for r in results:
        print(f"{r['method']:<14} {r['img_per_s']:9.1f} {r['img_per_s'] / at_speed:6.2f}x")
    write_json(args.out, {"model": model, "device": str(device), "batch_size": args.batch_size, "steps": steps, "repeats": args.repeats,
                          "torch_threads": torch.get_num_threads(), "results": results})


if __name__ == "__main__":
    main()
