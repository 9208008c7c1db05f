"""Training-set dynamics (issue 15): per-example statistics from the training forward pass and the
analyses built on them (forgetting events, data maps, AUM, EL2N). Torch-free: the recorder that fills
the store lives in :mod:`atlib.dynamics.recorder` and is imported only by training."""

from atlib.dynamics.store import FIELDS, SYNTHETIC, DynamicsStore

__all__ = ["FIELDS", "SYNTHETIC", "DynamicsStore"]
