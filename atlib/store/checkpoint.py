"""Checkpoints: model, optimizer, every RNG state, the position in training and the run's identity (its
name and config hash, :func:`atlib.store.writer.config_hash`), saved atomically and loaded with
``weights_only=True`` (no arbitrary code runs when a checkpoint is read)."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from atlib.store.io import RunFolderError, atomic_path
from atlib.store.layout import CHECKPOINT


DYNAMICS_STATE = "dynamics"  # the checkpoint's key of the dynamics recorder's partly recorded epoch


@dataclass(frozen=True)
class Position:
    """Where training stands, as saved in a checkpoint and resumed from."""

    epoch: int = 0  # the epoch of the next batch
    batch: int = 0  # the next batch to run, within that epoch
    points: int = 0  # record points stored so far

    @classmethod
    def after_point(cls, epoch: int, batch: int, batches_per_epoch: int, points: int) -> "Position":
        """The position once batch ``batch`` of ``epoch`` and record point number ``points`` are done."""
        if batch == batches_per_epoch - 1:
            return cls(epoch + 1, 0, points)
        return cls(epoch, batch + 1, points)


def rng_states() -> dict[str, Any]:
    """The global torch RNG states the training loop draws from (PGD random starts, dropout)."""
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module behind ``torch.compile`` or DDP wrappers, whose state dict keys are stable."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    position: Position, identity: dict[str, str], extra: dict[str, Any] | None = None) -> None:
    """Write ``checkpoint.pt`` atomically; ``position`` says where training resumes, ``identity`` which run it
    belongs to. ``extra`` holds the states of what the run keeps beside the model (a weight EMA, a partly
    recorded epoch), by name. A failed write (a full disk) leaves the previous checkpoint intact."""
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_states(),
        "position": asdict(position),
        "run": dict(identity),
        **(extra or {}),
    }
    save_state(path, state)


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` through a temporary file renamed into place (see :func:`atlib.store.io.atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved at ``path``; a file that does not load as one (cut short, overwritten, not a
    checkpoint) is refused as damaged, without running any code it holds."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError,
            AttributeError, IndexError, TypeError) as e:
        raise RunFolderError(f"damaged: {path} ({type(e).__name__}); use --force to start again (or restore it)") from e
    if not isinstance(state, dict) or "model" not in state:
        raise RunFolderError(f"damaged: {path} (not an atlib checkpoint); use --force to start again (or restore it)")
    return state


def load_run_state(run_dir: str | Path) -> dict[str, Any] | None:
    """The checkpoint of the run folder ``run_dir`` (on the CPU), or None before its first one. Every rank of
    a distributed run reads it; the main rank's :class:`~atlib.store.writer.RunWriter` checks it belongs."""
    path = Path(run_dir) / CHECKPOINT
    return load_checkpoint(path, map_location="cpu") if path.exists() else None
