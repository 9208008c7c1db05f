"""Exponential moving average (EMA) of a model's weights, evaluated beside the raw model.

``ema_model(model, decay)`` is ``torch.optim.swa_utils.AveragedModel`` with
``get_ema_multi_avg_fn(decay)`` and ``use_buffers=True``: batch-norm running statistics are averaged
with the weights, so the averaged network is ready to evaluate without recomputing them. After the
first update (a copy of the model) each update is ``ema = decay * ema + (1 - decay) * w``.

Call ``ema.update_parameters(model)`` after every optimizer step; it neither draws random numbers
nor touches ``model``, so the raw model trains bitwise as without EMA. ``ema.module`` is the averaged
network; ``ema.state_dict()`` (its weights, buffers and update count) checkpoints it, and
``load_state_dict`` resumes it exactly.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from atlib.store.checkpoint import unwrap


def ema_model(model: nn.Module, decay: float) -> AveragedModel:
    """An EMA of ``model``'s weights and buffers with ``decay`` in (0, 1), e.g. 0.999."""
    if not 0 < decay < 1:  # also refuses NaN
        raise ValueError(
            f"ema_decay must be in (0, 1), e.g. 0.999 (the average's horizon is about 1/(1 - decay) steps), got {decay}"
        )
    return AveragedModel(unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(float(decay)), use_buffers=True)
