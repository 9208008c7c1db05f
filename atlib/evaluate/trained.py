"""The model a run trained, rebuilt from its checkpoint for evaluation after training."""

from __future__ import annotations

from pathlib import Path

import torch

from atlib.datasets import dataset_info
from atlib.evaluate.accuracy import check_finite_weights
from atlib.store.checkpoint import load_checkpoint
from atlib.models import build_model, import_model_module
from atlib.store.runs import load_run


def load_trained_model(run_path: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The model of a run's latest checkpoint, in eval mode."""
    run = load_run(run_path)
    config = run.config
    import_model_module(config.model_module)
    model = build_model(config.model, dataset_info(config.dataset).num_classes, config.dataset)
    model.load_state_dict(load_checkpoint(run.checkpoint_path)["model"])
    check_finite_weights(model, run.checkpoint_path)
    return model.to(device).eval()
