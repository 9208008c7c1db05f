"""A model of the user's own, registered with atlib.models.register_model on import (tests/test_register_model.py
names this module with ``model_module``)."""

from __future__ import annotations

from torch import nn

from atlib.models import register_model


def tiny_mlp(num_classes: int) -> nn.Module:
    """A bare network for 32x32 RGB inputs with one BatchNorm layer, as a user's model might have."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64, num_classes))


register_model("tiny_mlp", tiny_mlp)
