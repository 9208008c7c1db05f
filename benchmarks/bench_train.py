"""Training throughput on this machine: img/s of atlib's own training step per method, and the cost of
recording every test and NEG example's probabilities, as a share of a 50,000-image epoch.

It times the loop's real step and record point (``benchmarks/training_timing.py``) on real CIFAR-10
(``--data``, else ``$ATLIB_DATA``/``./data``). Prints a table and writes ``outputs/benchmarks/train.json``,
which ``python -m atlib.sweep --dry-run`` reads for its GPU-hour estimate. On a GPU, the fuller
acceptance check is ``benchmarks/gpu_check.py``.

    python benchmarks/bench_train.py                          # CPU: small_cnn, fp32
    python benchmarks/bench_train.py --model resnet18 --steps 20 --compile --device cuda
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from atlib.io import write_json
from training_timing import make_trainer, time_recording, time_steps

PAPER_TRAIN_SIZE = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data", default=None, help="CIFAR-10 root (default $ATLIB_DATA, then ./data)")
    parser.add_argument("--model", default=None, help="default: resnet18 on CUDA, small_cnn on CPU")
    parser.add_argument("--methods", nargs="+", default=["nt", "at"])
    parser.add_argument("--steps", type=int, default=None, help="timed NT steps (default 50 on CUDA, 10 on CPU; AT a fifth)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=5000, help="training images loaded (timing needs few)")
    parser.add_argument("--test-size", type=int, default=10_000, help="test images recorded per record point")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--fp32", action="store_true", help="on CUDA: no bf16 autocast/channels_last (the CPU always uses fp32)")
    parser.add_argument("--out", default="outputs/benchmarks/train.json")
    args = parser.parse_args()
    cuda = torch.device(args.device).type == "cuda"
    args.model = args.model or ("resnet18" if cuda else "small_cnn")
    args.bf16 = cuda and not args.fp32
    steps = args.steps or (50 if cuda else 10)

    results: dict[str, object] = {"device": torch.cuda.get_device_name() if cuda else "cpu", "model": args.model,
                                  "batch_size": args.batch_size, "compile": args.compile, "autocast_bf16": args.bf16}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            trainer = make_trainer(args, Path(tmp), method, args.compile)
            results[f"{method}_img_s"] = time_steps(trainer, steps if method == "nt" else max(steps // 5, 2), warmup=2)["img_s"]
        record_s = time_recording(trainer)
    results["record_s"] = record_s
    print(f"device {results['device']}  model {args.model}  batch {args.batch_size}  compile {args.compile}  bf16 {args.bf16}")
    print(f"{'':>8} {'img/s':>10} {'epoch (s)':>10} {'record/epoch':>13}")
    for method in args.methods:
        epoch_s = PAPER_TRAIN_SIZE / results[f"{method}_img_s"]
        results[f"{method}_epoch_s"] = epoch_s
        results[f"{method}_record_overhead_pct"] = 100 * record_s / epoch_s
        print(f"{method.upper():>8} {results[f'{method}_img_s']:>10.0f} {epoch_s:>10.1f} {results[f'{method}_record_overhead_pct']:>12.2f}%")
    print(f"one record point (test + NEG, fp32): {record_s:.3f} s")
    write_json(Path(args.out), results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
