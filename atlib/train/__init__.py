"""The one training loop: natural (NT), PGD adversarial training (AT) and its variants (TRADES, MART,
FGSM-RS, optionally with AWP and a weight EMA), recording every test example's predicted probabilities
at every record point, with exact resume.

The methods differ only in their loss (:mod:`atlib.train.losses`: an attack crafting the training inputs,
then an objective). The loop is the only place in atlib that mutates a model.

CLI: ``python -m atlib.train --dataset cifar10 --model resnet18 --method at --epsilon-255 8 --seed 0``
(every :class:`~atlib.config.TrainConfig` field is an option; ``--preset demo|paper`` sets defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from atlib import progress
from atlib.config import TrainConfig, resolve_device
from atlib.store.runs import Run, load_run, stored_config, stored_metrics
from atlib.store.writer import RunWriter, run_folder

__all__ = ["Trainer", "train"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":  # torch loads on first use, so that `python -m atlib.train --help` is instant
        from atlib.train.loop import Trainer

        return Trainer
    raise AttributeError(f"module 'atlib.train' has no attribute {name!r}")


def train(config: TrainConfig, *, force: bool = False, plan: Mapping[str, Any] | None = None) -> Run:
    """Train (or resume, or return the stored result of) the run ``config`` describes.

    ``plan`` is what the grid that launched the run promised (``{"grid": name, "seeds": [...]}``, see
    :func:`atlib.sweep.grid.run_plans`), kept in its meta data so that analyses count missing seeds against it.
    Under ``torchrun`` every rank calls this; rank 0 alone writes the run folder.
    """
    import torch

    from atlib.models import import_model_module
    from atlib.train.distributed import init_distributed
    from atlib.train.loop import Trainer
    from atlib.train.tensorboard import require_tensorboard

    config.validate()
    import_model_module(config.model_module)  # before any folder is made: a module that fails to import leaves none
    if config.tensorboard:
        require_tensorboard()  # before any folder is made
    if config.source != "trained":
        raise ValueError("source 'external' marks runs recorded from checkpoints trained elsewhere; record such a series "
                         "with `python -m atlib.evaluate --checkpoints 'DIR/epoch_*.pt' --arch ...`")
    device = resolve_device(config.device)
    ddp = init_distributed(device.type, timeout_min=config.dist_timeout_min)
    if ddp.enabled and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
    run_dir = run_folder(config)
    if not force and _finished(config, run_dir):  # a finished run is only read: no lock, works read-only
        if ddp.is_main:
            progress.line(f"[atlib] {run_dir} is complete; returning it as stored (use --force to retrain)")
        return load_run(run_dir)
    writer = RunWriter.open(config, force=force) if ddp.is_main else None  # the main rank alone writes and locks
    try:
        ddp.barrier()
        try:
            stored = stored_config(run_dir)
            config = config.resuming(stored)  # a stored run resumes with its own meaning of options it lacks
            if config.model_module is None and stored.get("model_module"):  # a resume imports the recorded module
                config = config.replace(model_module=stored["model_module"])
                import_model_module(config.model_module)
            trainer = Trainer(config, run_dir, device, ddp, writer, plan=plan)
        except BaseException:
            if writer is not None:  # bad input found while setting up (data, probe size...): remove what this call made
                writer.abort()
            raise
        trainer.fit()
    finally:
        if writer is not None:
            writer.close()
    return load_run(run_dir)


def _finished(config: TrainConfig, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds the finished run of this same config."""
    stored = stored_config(run_dir)
    return stored is not None and stored_metrics(run_dir) is not None and not config.conflicts_with(stored)
