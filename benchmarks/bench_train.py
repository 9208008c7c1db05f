"""Training throughput on this machine, through atlib's own loop (``benchmarks/training_timing.py``):
img/s per method (NT, AT, TRADES, MART, FGSM-RS, AWP, EMA), what recording costs per record point (test,
CIFAR-10-NEG, the training probe) as a share of a 50,000-image epoch, and what the per-example training
statistics cost (``record_train``, ``record_train_clean``) as a share of the step.

Real CIFAR-10 (``--data``, else ``$ATLIB_DATA``, then ``./data``). Prints tables and writes
``outputs/benchmarks/train.json``, which ``python -m atlib.sweep --dry-run`` reads for its GPU-hour
estimate. On a GPU the fuller acceptance check is ``benchmarks/gpu_check.py``.

    python benchmarks/bench_train.py                          # CPU: small_cnn, fp32, every variant
    python benchmarks/bench_train.py --variants nt at --device cuda --model resnet18 --steps 50 --compile
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from atlib.store.io import write_json
from training_timing import make_trainer, time_recording, time_steps

PAPER_TRAIN_SIZE = 50_000
# A variant: a method and the TrainConfig fields that make it (the papers' AWP gammas; TRADES-AWP without
# its 10 warm-up epochs, so that the timed steps are perturbed). "trades-2fwd" is TRADES's earlier two-forward step
# (reference_step off): against "trades", the cost of the reference's second clean forward.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "nt": ("nt", {}), "at": ("at", {}), "trades": ("trades", {}), "trades-2fwd": ("trades", {"reference_step": False}),
    "mart": ("mart", {}), "fgsm_rs": ("fgsm_rs", {}),
    "at+awp": ("at", {"awp_gamma": 0.01}), "trades+awp": ("trades", {"awp_gamma": 0.005, "awp_warmup": 0}),
    "at+ema": ("at", {"ema_decay": 0.999}),
}
DYNAMICS = {"off": {"record_train": False}, "stats": {"record_train": True},
            "stats+clean": {"record_train": True, "record_train_clean": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", default=None, help="CIFAR-10 root (default: atlib.data's search)")
    parser.add_argument("--model", default=None, help="default: resnet18 on CUDA, small_cnn on CPU")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="timed NT steps (default 50 on CUDA, 10 on CPU; AT-like a fifth, >= 3)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=10_000, help="training images loaded (the probe is half, at most 5,000)")
    parser.add_argument("--test-size", type=int, default=10_000, help="test images recorded per record point")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--fp32", action="store_true", help="on CUDA: no bf16 autocast/channels_last (the CPU always uses fp32)")
    parser.add_argument("--no-dynamics", dest="dynamics", action="store_false", help="skip the record_train cost table")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the best of each is kept")
    parser.add_argument("--out", default="outputs/benchmarks/train.json")
    args = parser.parse_args()
    cuda = torch.device(args.device).type == "cuda"
    args.model = args.model or ("resnet18" if cuda else "small_cnn")
    args.bf16 = cuda and not args.fp32
    steps = args.steps or (50 if cuda else 10)
    steps_for = lambda method: steps if method == "nt" else max(steps // 5, 3)  # noqa: E731

    results: dict[str, Any] = {"device": torch.cuda.get_device_name() if cuda else "cpu", "model": args.model,
                               "batch_size": args.batch_size, "compile": args.compile, "autocast_bf16": args.bf16}
    with tempfile.TemporaryDirectory() as tmp:
        timed = {f"{name}_img_s": (make_trainer(args, Path(tmp) / name, VARIANTS[name][0], args.compile, record_train=False,
                                                **VARIANTS[name][1]), steps_for(VARIANTS[name][0])) for name in args.variants}
        if args.dynamics:
            timed |= {f"{method}_img_s_record_{mode}": (make_trainer(args, Path(tmp) / f"{method}-{mode}", method, args.compile,
                                                                     **fields), 2 * steps_for(method))
                      for method in ("nt", "at") for mode, fields in DYNAMICS.items()}
        for _ in range(args.rounds):  # interleaved rounds, best of each: a shared machine's noise only slows a round
            for key, (trainer, n) in timed.items():
                results[key] = max(results.get(key, 0.0), time_steps(trainer, n, warmup=1)["img_s"])
        record_s = time_recording(next(iter(timed.values()))[0])
    results["record_s"] = record_s
    print(f"device {results['device']}  model {args.model}  batch {args.batch_size}  compile {args.compile}  bf16 {args.bf16}")
    print(f"{'variant':>11} {'img/s':>9} {'vs AT':>7} {'epoch (s)':>10}")
    for name in args.variants:
        img_s = results[f"{name}_img_s"]
        results[f"{name}_epoch_s"] = PAPER_TRAIN_SIZE / img_s
        ratio = f"{img_s / results['at_img_s']:.2f}" if "at_img_s" in results else ""
        print(f"{name:>11} {img_s:>9.1f} {ratio:>7} {PAPER_TRAIN_SIZE / img_s:>10.1f}")
    if "trades_img_s" in results and "trades-2fwd_img_s" in results:
        results["trades_reference_step_cost"] = results["trades-2fwd_img_s"] / results["trades_img_s"]
        print(f"TRADES's reference step (three forwards) costs {results['trades_reference_step_cost']:.3f}x the "
              "two-forward step's time")
    print("\none record point, per set (fp32), as a share of a 50,000-image epoch at one point per epoch:")
    for method in ("nt", "at"):
        if f"{method}_img_s" in results:
            shares = {s: 100 * t * results[f"{method}_img_s"] / PAPER_TRAIN_SIZE for s, t in record_s.items()}
            results[f"{method}_record_overhead_pct"] = shares
            print(f"  {method.upper()}: " + ", ".join(f"{s} {record_s[s]:.2f} s = {pct:.2f}%" for s, pct in shares.items()))
    if args.dynamics:
        print("\nper-example training statistics (record_train), added time per step:")
        for method in ("nt", "at"):
            base = results[f"{method}_img_s_record_off"]
            for mode in ("stats", "stats+clean"):
                added = 100 * (base / results[f"{method}_img_s_record_{mode}"] - 1)
                results[f"{method}_record_{mode}_added_pct"] = added
                print(f"  {method.upper()} {mode:<12} {added:+6.1f}%  ({results[f'{method}_img_s_record_{mode}']:.1f} vs {base:.1f} img/s)")
    write_json(Path(args.out), results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
