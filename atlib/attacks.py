"""L-infinity attacks (PGD, FGSM). The accuracy helpers built on them live in :mod:`atlib.evaluate.accuracy`.

Attacks are pure functions of ``(model, x, y, budget)``: they return new images and leave the
model exactly as they found it (train/eval flags of every submodule, ``requires_grad`` of every
parameter, no ``.grad`` left behind). Images live in [0, 1] pixel space, because every atlib
model normalizes its own input, so ``eps=8/255`` means 8 grey levels.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from atlib.methods import BN_MODES

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def default_alpha(eps: float, steps: int) -> float:
    """The common PGD step-size rule ``2.5 * eps / steps``: 2/255 for eps 8/255 and 10 steps.

    The total travel ``steps * alpha = 2.5 eps`` exceeds the ball's diameter ``2 eps``, so any
    corner is reachable from any (random) start, while single steps stay small enough to refine.
    """
    return 2.5 * eps / steps


def check_epsilon(eps: float) -> float:
    """Return ``eps`` as a float in [0, 1] pixel units; reject values that look like 0-255 units."""
    eps = float(eps)
    if not eps >= 0:  # also catches NaN
        raise ValueError(f"eps must be >= 0, got {eps}")
    if eps > 1:
        raise ValueError(
            f"eps={eps:g} is larger than the whole [0, 1] pixel range: images are in [0, 1], "
            f"so write the budget as a fraction, e.g. eps=8/255 rather than eps=8"
        )
    return eps


@contextlib.contextmanager
def _frozen(model: nn.Module, train: bool) -> Iterator[None]:
    """Put ``model`` in train/eval mode with parameters not requiring grad; restore both on exit.

    Frozen parameters make the attack's backward compute only the input gradient. Eager
    ``torch.autograd.grad(loss, x_adv)`` already prunes weight-gradient kernels, but a
    ``torch.compile``d model's backward computes every gradient its graph was traced with; with
    frozen parameters it is traced (once, then cached) without them, about halving the attack's
    cost (see benchmarks/bench_pgd.py). Each submodule's own flag is saved, not just the
    top-level one, so mixed states, e.g. a frozen BN inside a training model, survive.
    """
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.train(train)
        for p, _ in grads:
            p.requires_grad_(False)
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def _check_batch(x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(
            f"x must be a float tensor of shape (B, C, H, W) in [0, 1], got "
            f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}"
        )
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (x.shape[0],):
        raise ValueError(
            f"y must be an int64 tensor of shape ({x.shape[0]},) (one class index per image), got "
            f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}"
        )
    if y.device != x.device:
        raise ValueError(f"x is on {x.device} but y is on {y.device}: move both to the same device")


def _check_range(x: torch.Tensor) -> None:
    """Values in [0, 1]. Reading the range back is a host sync, which stalls a GPU once per call:
    public entry points check user data with it, the training loop (whose data is known in range) skips it."""
    lo, hi = torch.aminmax(x)
    if lo < 0 or hi > 1:
        raise ValueError(
            f"x must be in [0, 1] (atlib models normalize inside), got values in [{lo.item():g}, {hi.item():g}]"
        )


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float | None = None,
    steps: int = 10,
    random_start: bool = True,
    bn_mode: str = "eval",
    loss_fn: LossFn | None = None,
    check_range: bool = True,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """L-infinity PGD (Madry et al. 2018): maximise ``loss_fn(model(x_adv), y)`` over the eps-ball.

    Starts at ``x + U(-eps, eps)`` (clipped to [0, 1]) when ``random_start``, drawn from the global
    RNG of ``x``'s device so that checkpointing global RNG state makes runs resumable. Each step
    moves by ``alpha * sign(grad)`` (``alpha`` defaults to :func:`default_alpha`) and projects onto
    the eps-ball and onto [0, 1].

    ``bn_mode="eval"`` (default) attacks with frozen BatchNorm statistics: the attack iterations
    then neither pollute the running statistics with ``steps`` extra momentum updates on
    adversarial batches, nor make the perturbation of one image depend on the rest of the batch.
    ``bn_mode="train"`` attacks with batch statistics, as some AT codebases do; note that each of
    the ``steps`` forwards then updates the running statistics.

    The iterate is kept in float32 (float64 if ``x`` is) even under ``torch.autocast``, so the
    projection is exact; only the forward runs in the autocast dtype. The default loss is
    cross-entropy summed over the batch: its sign-gradient equals the mean's, but per-image
    gradients are not shrunk by 1/B, which could underflow under float16 autocast.
    ``check_range=False`` skips reading back the range of ``x`` (a host sync per call); only for
    callers that know their data is in [0, 1], like the training loop.
    ``start`` (an initial perturbation, e.g. TRADES's ``0.001 * N(0, 1)``) replaces the random start:
    the iterate starts at ``x + start``, clipped to the eps-ball and to [0, 1].
    Returns ``x_adv``, detached, with ``x``'s dtype.
    """
    eps = check_epsilon(eps)
    _check_batch(x, y)
    if check_range:
        _check_range(x)
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if eps == 0:
        return x.detach().clone()
    alpha = default_alpha(eps, steps) if alpha is None else float(alpha)
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if loss_fn is None:
        loss_fn = lambda logits, target: F.cross_entropy(logits, target, reduction="sum")  # noqa: E731

    work_dtype = torch.promote_types(x.dtype, torch.float32)
    x0 = x.detach().to(work_dtype)
    # Intersection of the eps-ball and the pixel box, so each step projects with one clamp.
    lower = (x0 - eps).clamp_(min=0)
    upper = (x0 + eps).clamp_(max=1)
    if start is not None:
        x_adv = torch.clamp(x0 + start.detach().to(work_dtype), lower, upper)
    elif random_start:
        noise = torch.rand(x0.shape, device=x0.device, dtype=work_dtype)
        x_adv = torch.clamp(x0 + (2 * noise - 1) * eps, lower, upper)
    else:
        x_adv = x0  # a detached alias: the first step replaces it without ever writing to it

    with _frozen(model, train=bn_mode == "train"), torch.enable_grad():  # works inside callers' no_grad
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = loss_fn(model(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = torch.clamp(x_adv.detach() + alpha * grad.sign(), lower, upper)
    return x_adv.to(x.dtype)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, bn_mode: str = "eval") -> torch.Tensor:
    """FGSM (Goodfellow et al. 2015): one step of size ``eps`` from the clean point, clipped to [0, 1]."""
    return pgd(model, x, y, eps, alpha=eps, steps=1, random_start=False, bn_mode=bn_mode)
