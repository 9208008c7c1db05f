"""Training throughput: img/s for NT and PGD-AT steps, and the cost of recording every test
example's probabilities, as a percentage of an epoch.

It times the same step the training loop runs (device-resident uint8 data, on-device
augmentation, bf16 autocast and channels_last on CUDA) on random CIFAR-sized data, so no
dataset is needed. Prints a table and writes ``outputs/benchmarks/train.json``, which
``python -m atlib.sweep --dry-run`` reads for its GPU-hour estimate.

    python benchmarks/bench_train.py                         # CPU: small_cnn; CUDA: resnet18
    python benchmarks/bench_train.py --model resnet18 --steps 20 --compile
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from atlib.attacks import pgd, predict_proba
from atlib.data import DeviceLoader, ImageSet
from atlib.io import write_json
from atlib.models import build_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(model: torch.nn.Module, loader: DeviceLoader, device: torch.device, method: str, steps: int,
                  warmup: int, autocast: bool, memory_format: torch.memory_format) -> float:
    """Images per second of ``steps`` training steps after ``warmup`` untimed ones."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    batches = loader.epoch(0)
    images, start = 0, 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start, images = time.perf_counter(), 0
        batch = next(batches)
        x = batch.x.contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            if method == "at":
                x = pgd(model, x, batch.y, 8 / 255, steps=10)
            model.train()
            loss = F.cross_entropy(model(x).float(), batch.y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        images += len(batch.y)
    _sync(device)
    return images / (time.perf_counter() - start)


def time_recording(model: torch.nn.Module, test: torch.Tensor, device: torch.device, batch_size: int, autocast: bool,
                   repeats: int = 3) -> float:
    """Median seconds to record one point: probabilities of every test image, to float16 on the host."""
    dtype = torch.bfloat16 if autocast else None
    predict_proba(model, test[:batch_size], batch_size=batch_size, device=device, autocast_dtype=dtype)  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        predict_proba(model, test, batch_size=batch_size, device=device, autocast_dtype=dtype).to(torch.float16).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default=None, help="default: resnet18 on CUDA, small_cnn on CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on CUDA, 10 on CPU)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=50000, help="training set size (sets the epoch length)")
    parser.add_argument("--test-size", type=int, default=10000, help="test images recorded per record point")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", default="outputs/benchmarks/train.json")
    args = parser.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model_name = args.model or ("resnet18" if cuda else "small_cnn")
    steps = args.steps or (50 if cuda else 10)
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    rng = np.random.default_rng(0)
    train = ImageSet(rng.integers(0, 256, (args.train_size, 32, 32, 3), dtype=np.uint8),
                     rng.integers(0, 10, args.train_size), tuple(str(i) for i in range(10)))
    test = torch.from_numpy(rng.integers(0, 256, (args.test_size, 32, 32, 3), dtype=np.uint8)).to(device)
    loader = DeviceLoader(train, args.batch_size, device, train=True, seed=0)
    torch.manual_seed(0)
    model = build_model(model_name, 10).to(device, memory_format=memory_format)
    step_model = torch.compile(model) if args.compile else model

    results: dict[str, float | str] = {"device": torch.cuda.get_device_name(device) if cuda else "cpu", "model": model_name,
                                       "batch_size": args.batch_size, "compile": args.compile, "autocast_bf16": cuda}
    for method in ("nt", "at"):
        results[f"{method}_img_s"] = time_training(step_model, loader, device, method, steps if method == "nt" else max(steps // 5, 2),
                                                   warmup=3, autocast=cuda, memory_format=memory_format)
    record_s = time_recording(model, test, device, 1000, autocast=cuda)
    results["record_s"] = record_s
    for method in ("nt", "at"):
        epoch_s = args.train_size / results[f"{method}_img_s"]
        results[f"{method}_epoch_s"] = epoch_s
        results[f"{method}_record_overhead_pct"] = 100 * record_s / epoch_s

    print(f"device {results['device']}  model {model_name}  batch {args.batch_size}  compile {args.compile}")
    print(f"{'':>4} {'img/s':>10} {'epoch (s)':>10} {'record (s)':>11} {'record/epoch':>13}")
    for method in ("nt", "at"):
        print(f"{method.upper():>4} {results[f'{method}_img_s']:>10.0f} {results[f'{method}_epoch_s']:>10.1f} "
              f"{record_s:>11.3f} {results[f'{method}_record_overhead_pct']:>12.2f}%")
    write_json(Path(args.out), results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
