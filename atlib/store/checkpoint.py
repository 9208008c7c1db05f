"""Checkpoints: model, optimizer, every RNG state and the position in training, saved atomically
and loaded with ``weights_only=True`` (no arbitrary code runs when a checkpoint is read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from atlib.store.io import atomic_path


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
                    position: Position, extra: dict[str, Any] | None = None) -> None:
    """Write ``checkpoint.pt`` atomically; ``position`` says where training resumes. ``extra`` holds the
    states of what the run keeps beside the model (a weight EMA, a partly recorded epoch), by name."""
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_states(),
        "position": asdict(position),
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
