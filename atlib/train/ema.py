"""Exponential moving average (EMA) of a model's weights, evaluated beside the raw model.

``ema_model(model, decay, warmup_steps)`` is a ``torch.optim.swa_utils.AveragedModel``. Two rules:

- with ``warmup_steps`` (``ema_warmup``, the default), as DM-Improves-AT (``ema_update``, ``update_bn``): the
  average starts as a copy of the initial model; update ``t`` (counted from 1) uses the decay
  ``d_t = min(decay, (1 + s) / (10 + s))`` with ``s = t - warmup_steps``, and 0 while ``t < warmup_steps`` (the
  reference's 2.5 % of the training steps), ``ema = d_t * ema + (1 - d_t) * w``; the batch-norm statistics are
  not averaged but copied from the model. So early records describe the recent weights, not the initial ones: with
  a constant 0.999, the initial weights still hold 68 % of the average after 391 steps. The reference assigns
  the model's BN tensors to the average at the end of each epoch (sharing them from then on); they are copied at
  every update here, so records within the first epoch see the model's statistics too.
- without (``warmup_steps=None``, what stored runs trained without ``ema_warmup`` keep): the first update copies
  the model, then ``ema = decay * ema + (1 - decay) * w`` for the weights and the BN statistics alike
  (``get_ema_multi_avg_fn``, ``use_buffers=True``).

Call ``ema.update_parameters(model)`` after every optimizer step; it neither draws random numbers nor touches
``model``, so the raw model trains bitwise as without EMA. ``ema.module`` is
the averaged network; ``ema.state_dict()`` (its weights, buffers and update count) checkpoints it, and
``load_state_dict`` resumes it exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from atlib.store.checkpoint import unwrap

WARMUP_SHARE = 0.025  # DM-Improves-AT: the average follows the model for the first 2.5 % of the training steps


class WarmEMA(AveragedModel):
    """DM-Improves-AT's EMA (see the module's docstring): dynamic decay, BN statistics copied from the model."""

    def __init__(self, model: nn.Module, decay: float, warmup_steps: float) -> None:
        super().__init__(model, multi_avg_fn=self._average, use_buffers=False)
        self.decay, self.warmup_steps = float(decay), float(warmup_steps)
        self.n_averaged.fill_(1)  # the initial copy is averaged from the first update on (never replaced)

    def _average(self, ema: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        t = n_averaged.to(torch.float64)  # this update's number t (the first is 1): n_averaged starts at 1
        s = t - self.warmup_steps
        decay = torch.where(t >= self.warmup_steps, torch.clamp((1 + s) / (10 + s), max=self.decay), 0.0)
        decay = decay.to(ema[0].dtype)
        torch._foreach_mul_(ema, decay)
        torch._foreach_add_(ema, torch._foreach_mul(current, 1 - decay))

    def update_parameters(self, model: nn.Module) -> None:
        super().update_parameters(model)
        with torch.no_grad():
            for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
                mine.copy_(theirs)


def ema_model(model: nn.Module, decay: float, warmup_steps: float | None = None) -> AveragedModel:
    """An EMA of ``model``'s weights with ``decay`` in (0, 1), e.g. 0.999; ``warmup_steps`` (e.g.
    ``WARMUP_SHARE * total steps``) selects DM-Improves-AT's rule, None the constant decay (module docstring)."""
    if not 0 < decay < 1:  # also refuses NaN
        raise ValueError(
            f"ema_decay must be in (0, 1), e.g. 0.999 (the average's horizon is about 1/(1 - decay) steps), got {decay}"
        )
    if warmup_steps is not None:
        return WarmEMA(unwrap(model), decay, warmup_steps)
    return AveragedModel(unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(float(decay)), use_buffers=True)
