"""Timing atlib's own training step and record point (not a copy of them), shared by the benchmarks."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from atlib.config import TrainConfig
from atlib.distributed import Distributed
from atlib.train import _Trainer, resolve_device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_trainer(args: argparse.Namespace, run_dir: Path, method: str, compile: bool, **fields: object) -> _Trainer:
    """The training loop's own state (data on the device, model, optimizer, evaluator) for one setting:
    ``args`` gives model, batch size, subset sizes, device, precision and data root; ``fields`` any other
    TrainConfig fields (e.g. a method's parameters)."""
    config = TrainConfig.from_overrides({
        "model": args.model, "method": method, "epsilon_255": 8, "pgd_steps": 10, "epochs": 1, "batch_size": args.batch_size,
        "train_subset": args.train_size, "test_subset": args.test_size, "record_per_epoch": 1, "device": args.device,
        "amp": "on" if args.bf16 else "off", "channels_last": "on" if args.bf16 else "off", "compile": compile,
        "data_root": args.data, "progress": False, "out_dir": str(run_dir), "eval_batch_size": 1000, **fields,
    })
    return _Trainer(config, run_dir / config.run_name, resolve_device(args.device), Distributed())


def time_steps(trainer: _Trainer, steps: int, warmup: int) -> dict[str, float]:
    """Images/s of ``steps`` training steps after ``warmup`` untimed ones (the warm-up time, which holds
    torch.compile's compilation, is reported too)."""
    device, batches = trainer.device, trainer.loader.epoch(0)
    start = time.perf_counter()
    for _ in range(warmup):
        batch = next(batches)
        trainer._step(batch.x, batch.y)
    sync(device)
    warm = time.perf_counter() - start
    images, start = 0, time.perf_counter()
    for _ in range(steps):
        try:
            batch = next(batches)
        except StopIteration:
            batches = trainer.loader.epoch(1)
            batch = next(batches)
        trainer._step(batch.x, batch.y)
        images += len(batch.y)
    sync(device)
    return {"img_s": images / (time.perf_counter() - start), "warmup_s": warm}


def time_recording(trainer: _Trainer, repeats: int = 3) -> float:
    """Median seconds of one record point: fp32 probabilities of every test and NEG image, to float16 on the host."""
    trainer.evaluate(trainer.model)
    times = []
    for _ in range(repeats):
        sync(trainer.device)
        start = time.perf_counter()
        trainer.evaluate(trainer.model)
        times.append(time.perf_counter() - start)
    return float(np.median(times))
