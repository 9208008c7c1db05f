"""Timing atlib's own training step and record point (not a copy of them), shared by the benchmarks."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from atlib.config import TrainConfig, resolve_device
from atlib.store.writer import RunWriter
from atlib.train import Trainer
from atlib.train.distributed import Distributed


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_trainer(args: argparse.Namespace, run_dir: Path, method: str, compile: bool, **fields: object) -> Trainer:
    """The training loop's own state (data on the device, model, optimizer, evaluator) for one setting:
    ``args`` gives model, batch size, subset sizes, device, precision and data root; ``fields`` any other
    TrainConfig fields (e.g. a method's parameters)."""
    config = TrainConfig.from_overrides({
        "model": args.model, "method": method, "epsilon_255": 8, "pgd_steps": 10, "epochs": 1, "batch_size": args.batch_size,
        "train_subset": args.train_size, "test_subset": args.test_size, "record_per_epoch": 1, "device": args.device,
        "amp": "on" if args.bf16 else "off", "channels_last": "on" if args.bf16 else "off", "compile": compile,
        "data_root": args.data, "progress": False, "out_dir": str(run_dir), "eval_batch_size": 1000, **fields,
    })
    writer = RunWriter.open(config, lock=False)  # a throw-away run folder, written only by this process
    return Trainer(config, writer.path, resolve_device(args.device), Distributed(), writer)


def time_steps(trainer: Trainer, steps: int, warmup: int) -> dict[str, float]:
    """Images/s of ``steps`` training steps after ``warmup`` untimed ones (the warm-up time, which holds
    torch.compile's compilation, is reported too)."""
    device, batches = trainer.device, trainer.loader.epoch(0)
    start = time.perf_counter()
    for i in range(warmup):
        batch = next(batches)
        trainer._step(batch, 0, i + 1)
    sync(device)
    warm = time.perf_counter() - start
    images, start = 0, time.perf_counter()
    for i in range(steps):
        try:
            batch = next(batches)
        except StopIteration:
            batches = trainer.loader.epoch(1)
            batch = next(batches)
        trainer._step(batch, 0, warmup + i + 1)
        images += len(batch.y)
    sync(device)
    return {"img_s": images / (time.perf_counter() - start), "warmup_s": warm}


def time_recording(trainer: Trainer, repeats: int = 3) -> dict[str, float]:
    """Median seconds of one record point per recorded set (test, neg, probe): fp32 probabilities of
    every image, to float16 on the host."""
    trainer.evaluate(trainer.model)
    out = {}
    for name in trainer.evaluate.images:
        times = []
        for _ in range(repeats):
            sync(trainer.device)
            start = time.perf_counter()
            trainer.evaluate(trainer.model, sets=(name,))
            times.append(time.perf_counter() - start)
        out[name] = float(np.median(times))
    return out
