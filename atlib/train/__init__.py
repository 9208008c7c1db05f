"""The one training loop: natural (NT), PGD adversarial training (AT) and its variants (TRADES, MART,
FGSM-RS, optionally with AWP and a weight EMA), recording every test example's predicted probabilities
at every record point, with exact resume.

The methods differ only in their loss (:mod:`atlib.train.losses`: an attack crafting the training inputs,
then an objective). The loop is the only place in atlib that mutates a model.

CLI: ``python -m atlib.train --dataset cifar10 --model resnet18 --method at --epsilon-255 8 --seed 0``
(every :class:`~atlib.config.TrainConfig` field is an option; ``--preset demo|paper`` sets defaults).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from atlib import progress
from atlib.config import TrainConfig, resolve_device
from atlib.store.io import read_json, write_json
from atlib.store.runs import CHECKPOINT, CONFIG, META, METRICS, PROGRESS, RECORDS, Run, load_run

__all__ = ["Trainer", "train"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":  # torch loads on first use, so that `python -m atlib.train --help` is instant
        from atlib.train.loop import Trainer

        return Trainer
    raise AttributeError(f"module 'atlib.train' has no attribute {name!r}")


def _prepare_run_dir(config: TrainConfig, force: bool) -> Path:
    """Create or reuse the run folder; refuse a config that contradicts the stored one (see
    :meth:`TrainConfig.conflicts_with`: options the stored config lacks keep the stored run's behaviour)."""
    run_dir = Path(config.out_dir) / config.run_name
    if (run_dir / CONFIG).exists() and not force:
        conflicts = config.conflicts_with(read_json(run_dir / CONFIG))
        if conflicts:
            lines = "\n".join(f"  {k}: stored {old!r}, given {new!r}" for k, (old, new) in sorted(conflicts.items()))
            raise ValueError(
                f"{run_dir} holds a run with a different config:\n{lines}\n"
                "Use another --name/--out-dir, or --force to discard the stored run and start again."
            )
    if force and run_dir.exists():
        for item in (CHECKPOINT, METRICS, PROGRESS, META):
            (run_dir / item).unlink(missing_ok=True)
        shutil.rmtree(run_dir / RECORDS, ignore_errors=True)
    if force or not (run_dir / CONFIG).exists():
        write_json(run_dir / CONFIG, config.to_dict())
    return run_dir


def train(config: TrainConfig, *, force: bool = False) -> Run:
    """Train (or resume, or return the stored result of) the run ``config`` describes.

    Under ``torchrun`` every rank calls this; rank 0 alone writes the run folder.
    """
    import torch

    from atlib.train.distributed import init_distributed
    from atlib.train.loop import Trainer

    config.validate()
    if config.source != "trained":
        raise ValueError("source 'external' marks runs recorded from checkpoints trained elsewhere; record such a series "
                         "with `python -m atlib.evaluate --checkpoints 'DIR/epoch_*.pt' --arch ...`")
    device = resolve_device(config.device)
    ddp = init_distributed(device.type, timeout_min=config.dist_timeout_min)
    if ddp.enabled and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
    run_dir = Path(config.out_dir) / config.run_name
    new_run = not run_dir.exists()
    if ddp.is_main:
        _prepare_run_dir(config, force)
    ddp.barrier()
    if (run_dir / CONFIG).exists():  # a stored run resumes with its own meaning of options it lacks
        config = config.resuming(read_json(run_dir / CONFIG))
    if (run_dir / METRICS).exists():
        progress.line(f"[atlib] {run_dir} is complete; returning it as stored (use --force to retrain)")
        return load_run(run_dir)
    try:
        trainer = Trainer(config, run_dir, device, ddp)
    except Exception:
        if new_run and ddp.is_main:  # bad input found while setting up (data, probe size...): leave no half-made run
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    trainer.fit()
    return load_run(run_dir)
