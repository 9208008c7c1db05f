"""Adversarial weight perturbation (AWP, Wu et al. 2020) on top of ``at`` and ``trades``.

Each step, before the training forward, the weights move by ``gamma * v`` where, per layer,
``v = ||w|| * g / ||g||`` and ``g`` is the gradient of the method's own loss (the TRADES loss for
TRADES) on the step's adversarial batch; after the optimizer step they move back by the same
``gamma * v``. Only weights of dimension > 1 are perturbed (convolution and linear weights): batch-norm
parameters and biases are not, as in the reference code.

The gradient comes from a *proxy* copy of the model, loaded with the model's weights and buffers
each step and run in train mode, so the model's batch-norm statistics are untouched. The reference
code takes one plain SGD step on the proxy and uses the weight difference; for one momentum-free
step that difference is ``lr * g``, and the layer-wise rescaling removes ``lr``, so the gradient is
used directly (this is also exact where ``w - lr * g`` would round).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from atlib.methods import AWP_METHODS, METHODS
from atlib.store.checkpoint import unwrap

_EPS = 1e-20  # the reference code's guard against a zero gradient


class AWP:
    """The weight perturbation of one run of ``method`` (``at`` or ``trades``): a proxy copy of ``model``.

    ``gamma`` is the perturbation size relative to each layer's norm; AWP applies from the epoch numbered
    ``warmup`` when the first epoch is numbered ``first_epoch``, as the references write ``epoch >= awp_warmup``
    (AT-AWP numbers epochs from 0, TRADES-AWP from 1: its warm-up of 10 starts AWP in the 10th epoch). None takes
    the method's reference value (:data:`atlib.methods.METHODS`, ``awp``). Typical use in the loop::

        x_adv = loss.attack(attack_model, x, y)
        with awp.perturbed(epoch, lambda m: loss.objective(m, x, x_adv, y).loss):
            out = loss.objective(model, x, x_adv, y)
            optimizer.zero_grad(); out.loss.backward(); optimizer.step()
    """

    def __init__(self, model: nn.Module, method: str, gamma: float | None = None, warmup: int | None = None,
                 first_epoch: int | None = None) -> None:
        if method not in AWP_METHODS:
            raise ValueError(
                f"AWP (awp_gamma) applies to methods {' and '.join(AWP_METHODS)}, not {method!r}: "
                "drop awp_gamma or train with one of those methods"
            )
        reference = METHODS[method].awp
        gamma = reference.gamma if gamma is None else gamma
        warmup = reference.warmup if warmup is None else warmup
        first_epoch = reference.first_epoch if first_epoch is None else first_epoch
        if not gamma >= 0:
            raise ValueError(f"awp_gamma must be >= 0 (0 turns AWP off), got {gamma}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"awp_warmup must be a whole number of epochs >= 0, got {warmup!r}")
        self.model = unwrap(model)
        self.proxy = copy.deepcopy(self.model)
        self.gamma, self.warmup, self.first_epoch = float(gamma), warmup, first_epoch
        self.names = [name for name, p in self.model.named_parameters() if p.dim() > 1]

    def active(self, epoch: int) -> bool:
        """Whether AWP applies in ``epoch`` (counted from 0, as the loop counts)."""
        return self.gamma > 0 and epoch + self.first_epoch >= self.warmup

    def direction(self, loss_of: Callable[[nn.Module], torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per perturbed weight, ``||w|| * g / ||g||`` with ``g`` the gradient of ``loss_of(proxy)``."""
        self.proxy.load_state_dict(self.model.state_dict())
        self.proxy.train()
        params = dict(self.proxy.named_parameters())
        weights = [params[name] for name in self.names]
        grads = torch.autograd.grad(loss_of(self.proxy), weights, allow_unused=True)
        if dist.is_available() and dist.is_initialized():  # under DDP: one direction for all ranks, from the global batch
            for g in grads:
                if g is not None:
                    dist.all_reduce(g)
                    g.div_(dist.get_world_size())
        out = {}
        with torch.no_grad():
            for name, w, g in zip(self.names, weights, grads):
                if g is not None:
                    out[name] = w.norm() / (g.norm() + _EPS) * g
        return out

    @contextlib.contextmanager
    def perturbed(self, epoch: int, loss_of: Callable[[nn.Module], torch.Tensor]) -> Iterator[None]:
        """Perturb the model for the block (when :meth:`active`), restore it afterwards."""
        if not self.active(epoch):
            yield
            return
        direction = self.direction(loss_of)
        self._add(direction, self.gamma)
        try:
            yield
        finally:
            self._add(direction, -self.gamma)

    def _add(self, direction: dict[str, torch.Tensor], scale: float) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, v in direction.items():
                params[name].add_(v, alpha=scale)
