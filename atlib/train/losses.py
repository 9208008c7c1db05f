"""Training losses of the adversarial-training variants, one per ``method``, for the one training loop.

Every method is two halves, so the loop (and AWP, which needs the loss on a proxy model for the same
adversarial batch) can call them uniformly:

- :meth:`MethodLoss.attack` crafts the training inputs ``x_adv`` (``x`` itself for NT);
- :meth:`MethodLoss.objective` computes the loss from train-mode forwards of ``x``/``x_adv``.

=========== ==================================================== =========================================
method      inner attack                                         loss
=========== ==================================================== =========================================
``nt``      none                                                 CE(f(x), y)
``at``      PGD on CE, uniform random start (Madry et al. 2018)  CE(f(x_adv), y)
``trades``  PGD on KL(p(x) || p(x_adv)) from ``x + 0.001 N(0,1)``  CE(f(x), y) + beta KL(p(x) || p(x_adv))
``mart``    PGD on CE from ``x + 0.001 N(0,1)``                  see :func:`mart_loss`
``fgsm_rs`` one FGSM step of 1.25 eps from a uniform start       CE(f(x_adv), y)
=========== ==================================================== =========================================

Batch norm: the inner attacks run with the BN mode ``bn_mode`` (the config's ``attack_bn_mode``; each
method's default is its reference's, :data:`atlib.methods.METHODS`: ``"eval"`` (running statistics, as the
TRADES and MART code do with ``model.eval()``) except FGSM-RS, whose reference crafts in train mode; see
:func:`atlib.attacks.pgd`). The objectives run in whatever mode the model is in: the loop puts it in train
mode, and TRADES/MART make *separate* train-mode forwards of the clean and the adversarial batch, each
normalised with its own batch statistics, as the reference code does. The TRADES reference runs the clean
batch twice (once per term): the two forwards give identical outputs, so the loss and gradients come from one
of them, but each forward also updates the BN running statistics, which every eval-mode record uses. With
``reference_step`` (the default) TRADES therefore makes the second clean forward too, without autograd, in the
reference's order: clean, adversarial, clean (``trades.py``), or adversarial, clean, clean with AWP
(``train_trades_cifar.py`` of AWP); ``reference_step=False`` is atlib's earlier two-forward step, which stored
runs trained before it keep.

Precision: the losses are computed on ``.float()`` logits, so they are the same code inside or outside a
bf16 autocast region; the attack iterates stay fp32 (see :func:`atlib.attacks.pgd`). Random starts draw
from the global RNG of the batch's device, which the loop checkpoints, so runs resume exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from atlib.attacks import _frozen, check_epsilon, pgd
from atlib.methods import ADVERSARIAL, BN_MODES, METHODS as TABLE

START_STD = 0.001  # the TRADES/MART reference start: x + 0.001 * N(0, 1)
FGSM_RS_ALPHA = 1.25  # Wong et al. 2020: step 1.25 eps from a uniform start


@dataclass(frozen=True)
class LossOutput:
    """A training step's loss and the logits its accuracy statistic counts.

    ``logits`` are those of the batch the method trains to classify: the adversarial batch for every
    adversarial method (for TRADES, whose CE term is on clean images, too: as the TRADES-AWP reference
    reports it), the clean batch for NT.
    """

    loss: torch.Tensor  # scalar, float32
    logits: torch.Tensor  # (B, C)


def trades_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    """TRADES (Zhang et al. 2019): ``CE(f(x), y) + beta * KL(p(x) || p(x_adv))``.

    The KL is averaged over the batch (``reduction="batchmean"``: summed over classes, divided by B).
    ``"mean"`` would divide by B*C, silently shrinking beta C-fold. Gradients flow through both
    distributions, as in the reference code (the clean target is not detached).
    """
    logits_clean, logits_adv = logits_clean.float(), logits_adv.float()
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_clean, dim=1), reduction="batchmean")
    return F.cross_entropy(logits_clean, y) + beta * kl


def mart_loss(logits_clean: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    """MART (Wang et al. 2020), as in the reference code:

    ``CE(f(x_adv), y) + NLL(log(1.0001 - p_adv), y_hat)
    + beta * mean_i[ KL(p(x_i) || p(x_adv_i)) * (1.0000001 - p(x_i)_y) ]``

    where ``y_hat`` is the most probable wrong class under ``p_adv``. The first two terms are the
    boosted CE; the weight ``1.0000001 - p(x)_y`` is not detached (gradients flow through it).
    """
    logits_clean, logits_adv = logits_clean.float(), logits_adv.float()
    p_adv = F.softmax(logits_adv, dim=1)
    wrong = p_adv.masked_fill(F.one_hot(y, p_adv.shape[1]).bool(), float("-inf"))
    y_hat = wrong.argmax(dim=1)
    boosted_ce = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - p_adv), y_hat)
    p_clean = F.softmax(logits_clean, dim=1)
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), p_clean, reduction="none").sum(dim=1)
    weight = 1.0000001 - p_clean.gather(1, y[:, None]).squeeze(1)
    return boosted_ce + beta * (kl * weight).mean()


def _ce(logits_clean: torch.Tensor | None, logits_adv: torch.Tensor, y: torch.Tensor, beta: float | None) -> torch.Tensor:
    return F.cross_entropy(logits_adv.float(), y)


@dataclass(frozen=True)
class MethodCode:
    """A method's torch code: its ``formula`` (clean logits or None, training-input logits, labels, beta)
    and whether it needs a ``clean`` forward beside the one of its training inputs."""

    formula: Callable[[torch.Tensor | None, torch.Tensor, torch.Tensor, float | None], torch.Tensor]
    clean: bool = False


# Each method's loss, keyed by the names of atlib.methods.METHODS (a test checks that the keys agree); the
# attacks are in MethodLoss.attack.
CODE: dict[str, MethodCode] = {
    "nt": MethodCode(_ce),
    "at": MethodCode(_ce),
    "trades": MethodCode(trades_loss, clean=True),
    "mart": MethodCode(mart_loss, clean=True),
    "fgsm_rs": MethodCode(_ce),
}


@dataclass(frozen=True)
class MethodLoss:
    """One method's training loss with its settings; build it once per run, call it every step.

    ``eps`` and ``alpha`` are in [0, 1] pixel units; ``alpha=None`` is PGD's default step
    (:func:`atlib.attacks.default_alpha`) and, for ``fgsm_rs``, 1.25 eps. ``steps`` is the PGD
    iteration count of ``at``, ``trades`` and ``mart`` (``fgsm_rs`` takes one step). ``beta`` weighs
    the TRADES/MART regulariser (None: the method's default in :data:`atlib.methods.METHODS`). ``bn_mode``:
    the attack's BN mode (None: the method's). ``reference_step`` and ``awp``: TRADES's forwards and their order
    (see the module's docstring).
    """

    method: str
    eps: float = 0.0
    steps: int = 10
    alpha: float | None = None
    beta: float | None = None
    bn_mode: str | None = None
    reference_step: bool = True
    awp: bool = False

    def __post_init__(self) -> None:
        if self.method not in CODE:
            raise ValueError(f"unknown training method {self.method!r}: choose one of {', '.join(CODE)}")
        eps = check_epsilon(self.eps)
        if self.method in ADVERSARIAL and eps == 0:
            raise ValueError(f"method {self.method!r} needs eps > 0; use method 'nt' for natural training")
        if self.method == "nt" and eps != 0:
            raise ValueError(f"method 'nt' trains on clean images: eps must be 0, got {eps:g}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"alpha must be > 0 (or None for the default step), got {self.alpha}")
        bn_mode = TABLE[self.method].bn_mode if self.bn_mode is None else self.bn_mode
        if bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
        defaults = dict(TABLE[self.method].defaults)
        beta = self.beta
        if beta is not None and not defaults:
            raise ValueError(f"beta weighs the regulariser of TRADES and MART; method {self.method!r} has none")
        if beta is None:
            beta = next(iter(defaults.values()), None)
        elif not beta >= 0:  # also catches NaN
            raise ValueError(f"beta must be >= 0 (0 drops the {self.method.upper()} regulariser), got {beta}")
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "bn_mode", bn_mode)
        object.__setattr__(self, "beta", None if beta is None else float(beta))

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The inputs the method trains on, crafted on ``model`` (left as it was found); ``x`` for NT."""
        common = dict(bn_mode=self.bn_mode, check_range=False)
        if self.method == "nt":
            return x
        if self.method == "at":
            return pgd(model, x, y, self.eps, alpha=self.alpha, steps=self.steps, random_start=True, **common)
        if self.method == "fgsm_rs":
            alpha = FGSM_RS_ALPHA * self.eps if self.alpha is None else self.alpha
            return pgd(model, x, y, self.eps, alpha=alpha, steps=1, random_start=True, **common)
        start = START_STD * torch.randn(x.shape, device=x.device, dtype=torch.promote_types(x.dtype, torch.float32))
        if self.method == "mart":
            return pgd(model, x, y, self.eps, alpha=self.alpha, steps=self.steps, start=start, **common)
        # trades: maximise KL(p(x) || p(x_adv)) against the clean prediction, in the attack's BN mode.
        with torch.no_grad(), _frozen(model, train=self.bn_mode == "train"):
            p_clean = F.softmax(model(x).float(), dim=1)

        def kl_sum(logits: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
            # Summed, not batch-averaged: the same sign-gradient, without shrinking per-image gradients.
            return F.kl_div(F.log_softmax(logits.float(), dim=1), p_clean, reduction="sum")

        return pgd(model, x, y, self.eps, alpha=self.alpha, steps=self.steps, start=start, loss_fn=kl_sum, **common)

    def objective(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                  proxy: bool = False) -> LossOutput:
        """The loss on given inputs, from forwards of ``model`` in its current (the loop's train) mode.
        ``proxy``: AWP's proxy model, whose BN statistics are discarded, so TRADES skips its BN-only forward."""
        code = CODE[self.method]
        if not code.clean:
            logits = model(x_adv)
            return LossOutput(code.formula(None, logits, y, self.beta), logits)
        if self.awp and self.reference_step and self.method == "trades":  # train_trades_cifar.py: adversarial first
            logits_adv = model(x_adv)
            logits_clean = model(x)
        else:
            logits_clean = model(x)
            logits_adv = model(x_adv)
        if self.method == "trades" and self.reference_step and not proxy:
            with torch.no_grad():  # the reference's second clean forward: the same outputs, one more BN update
                model(x)
        return LossOutput(code.formula(logits_clean, logits_adv, y, self.beta), logits_adv)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 attack_model: nn.Module | None = None) -> LossOutput:
        """Attack (on ``attack_model``, default ``model``), then the objective on ``model``."""
        x_adv = self.attack(model if attack_model is None else attack_model, x, y)
        return self.objective(model, x, x_adv, y)
