"""Clean and PGD accuracy and predicted probabilities of a model over a whole image set, batched on a device.

Inputs are uint8 (N, H, W, 3) arrays as atlib.data returns them (converted per batch, so a set is never
copied whole) or float (N, C, H, W) tensors in [0, 1]. Everything runs in fp32, with the model in eval mode.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from atlib.attacks import check_epsilon, pgd


def check_finite_weights(model: nn.Module, source: object) -> None:
    """Refuse a model with NaN or infinite weights (or BatchNorm statistics): it predicts one constant class, whose
    accuracy (about 1/classes) would look like a result. ``source`` names the file the weights came from."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    bad = [name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        listed = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ValueError(f"{source}: the model's weights hold NaN or infinite values ({listed}), so it cannot be "
                         "evaluated: its training diverged or the file is damaged; evaluate an earlier checkpoint")


def _to_images(batch: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 NHWC arrays become float32 NCHW in [0, 1] on ``device``; float tensors/arrays are taken as NCHW."""
    if isinstance(batch, np.ndarray) and not batch.flags.writeable:  # a read-only memmap slice: torch wants a copy
        batch = np.array(batch)
    t = torch.as_tensor(batch).to(device, non_blocking=True)
    if t.dtype == torch.uint8:
        if t.dim() != 4 or t.shape[-1] != 3:
            raise ValueError(f"uint8 images must be (N, H, W, 3), got shape {tuple(t.shape)}")
        return t.permute(0, 3, 1, 2).float().div_(255)
    if not t.is_floating_point() or t.dim() != 4:
        raise ValueError(
            f"images must be uint8 (N, H, W, 3) or float (N, C, H, W) in [0, 1], got {t.dtype} {tuple(t.shape)}"
        )
    return t.float()


def _batches(
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None,
    batch_size: int,
    device: torch.device | str,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield ``(x, y)`` batches on ``device``, converting images per batch so the whole set is never copied."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(images)
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    for start in range(0, n, batch_size):
        x = _to_images(images[start : start + batch_size], device)
        y = None if labels is None else torch.as_tensor(labels[start : start + batch_size]).to(device, torch.int64)
        yield x, y


@contextlib.contextmanager
def _evaluating(model: nn.Module, device: torch.device | str) -> Iterator[None]:
    """Eval mode (running BN statistics) and fp32 even inside a caller's autocast region; every
    submodule's train flag is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.autocast(torch.device(device).type, enabled=False):
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def predict_proba(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Softmax probabilities (N, C), float32 on the CPU, from an fp32 forward in eval mode.

    Batches stay on ``device`` until the end (one transfer, no per-batch sync).
    """
    out = []
    with _evaluating(model, device), torch.no_grad():
        for x, _ in _batches(images, None, batch_size, device):
            out.append(model(x).float().softmax(dim=-1))
    return torch.cat(out).cpu()


def accuracy(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> float:
    """Clean top-1 accuracy in [0, 1], model in eval mode."""
    return float(correct_predictions(model, images, labels, batch_size, device).mean())


def robust_accuracy(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    eps: float,
    steps: int = 20,
    alpha: float | None = None,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    random_start: bool = True,
) -> float:
    """Top-1 accuracy in [0, 1] under L-infinity PGD-``steps`` with budget ``eps``, model in eval mode."""
    attack = pgd_attack(model, eps, steps, alpha, random_start)
    return float(correct_predictions(model, images, labels, batch_size, device, attack).mean())


Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pgd_attack(model: nn.Module, eps: float, steps: int = 20, alpha: float | None = None,
               random_start: bool = True) -> Attack:
    """PGD on ``model`` with frozen BN statistics, as a function of a batch ``(x, y)``."""
    eps = check_epsilon(eps)

    def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd(model, x, y, eps, alpha=alpha, steps=steps, random_start=random_start, bn_mode="eval")

    return attack


def correct_predictions(model: nn.Module, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
                        batch_size: int = 256, device: torch.device | str = "cpu", attack: Attack | None = None) -> np.ndarray:
    """Per image, whether the model's top-1 prediction is right (on ``attack(x, y)`` when given): bool (N,)."""
    if len(images) == 0:
        raise ValueError("cannot compute accuracy on an empty set of images")
    correct = []
    with _evaluating(model, device):
        for x, y in _batches(images, labels, batch_size, device):
            if attack is not None:
                x = attack(x, y)
            with torch.no_grad():
                correct.append(model(x).argmax(dim=-1) == y)
    return torch.cat(correct).cpu().numpy()
