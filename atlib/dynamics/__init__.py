"""Training-set dynamics: per-example statistics from the training forward pass and the analyses built on them
(forgetting events, data maps, AUM, EL2N). Torch-free: their store is :mod:`atlib.store.dynamics`; the recorder
that fills it lives in :mod:`atlib.dynamics.recorder` and is imported only by training."""
