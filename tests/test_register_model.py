"""A model of one's own (atlib.models.register_model): a registered name trains through the CLI with
--model-module, is recorded, resumes in a fresh process that only the recorded module tells about it, runs
from a sweep grid, analyses, and loads as an external checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from atlib import analysis, models
from atlib.datasets import DATASET_INFO
from atlib.store.io import read_json
from atlib.store.runs import group_seeds, load_run, load_runs

TESTS = Path(__file__).parent
REPO = TESTS.parent
TINY = ["--model", "tiny_mlp", "--model-module", "registered_model", "--method", "at", "--epsilon-255", "8",
        "--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--lr-milestones", "1", "--record-per-epoch", "2",
        "--pgd-steps", "1", "--robust-eval-n", "10", "--robust-eval-steps", "1", "--eval-batch-size", "64",
        "--train-probe-size", "10", "--no-progress"]


def test_register_model_refuses_bad_names_and_builtin_ones() -> None:
    with pytest.raises(ValueError, match="already registered \\(built in\\)"):
        models.register_model("resnet18", lambda k: nn.Linear(2, k))
    with pytest.raises(ValueError, match="letters, digits"):
        models.register_model("my model", lambda k: nn.Linear(2, k))
    with pytest.raises(ValueError, match="unknown model 'nope'.*register it"):
        models.build_model("nope", 10)
    with pytest.raises(ValueError, match="model_module 'no_such_module_xyz' cannot be imported"):
        models.import_model_module("no_such_module_xyz")


@pytest.mark.slow
def test_a_registered_model_trains_records_resumes_and_analyses(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.evaluate.external import evaluate_checkpoint
    from atlib.evaluate.trained import load_trained_model
    from atlib.sweep.grid import expand, parse_grid
    from atlib.train import Trainer, train
    from atlib.train.cli import main

    data = ["--data-root", str(tiny_root), "--neg-path", str(tiny_root / "CIFAR10_neg.npz"), "--out-dir", str(tmp_path)]
    # Interrupted after its first record point, in this process...
    original = Trainer._checkpoint

    def crash(self: Trainer, test_acc: float) -> None:
        original(self, test_acc)
        raise KeyboardInterrupt

    Trainer._checkpoint = crash
    try:
        assert main([*TINY, *data]) == 130  # the CLI's exit code for an interruption
    finally:
        Trainer._checkpoint = original
    run_dir = tmp_path / "cifar10_tiny_mlp_at8_s0"
    assert read_json(run_dir / "config.json")["model_module"] == "registered_model"
    # ... resumed by a fresh process whose command does not name the module: the recorded one is imported.
    command = [a for a in TINY if a not in ("--model-module", "registered_model")]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{TESTS}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "atlib.train", *command, *data], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = load_run(run_dir)
    assert run.complete and run.meta["resumed"] == 1 and run.num_points == 4
    assert isinstance(load_trained_model(run_dir).net[0], nn.Conv2d)

    # Analyses read it like any run.
    curves = analysis.mean_entropy_curves(group_seeds(load_runs(tmp_path)))
    assert curves["model"].unique().tolist() == ["tiny_mlp"] and len(curves) == 4

    # Its checkpoint evaluates as a checkpoint trained elsewhere, under the registered name.
    result = evaluate_checkpoint(run_dir / "checkpoint.pt", "tiny_mlp", DATASET_INFO["cifar10"].normalization,
                                 data_root=str(tiny_root), n=0)
    assert result["clean_acc"] == pytest.approx(run.metrics["clean_acc"])

    # A sweep grid names it the same way, and its job trains it.
    grid = parse_grid({"fixed": {"model": "tiny_mlp", "model_module": "registered_model", "method": "nt", "epochs": 1,
                                 "batch_size": 32, "record_per_epoch": 1, "robust_eval_n": 0, "train_probe_size": 0,
                                 "data_root": str(tiny_root), "neg_path": str(tiny_root / "CIFAR10_neg.npz"),
                                 "progress": False}, "product": {"seed": [0]}}, name="mine")
    (config,) = expand(grid, tmp_path / "sweep" / "runs")
    assert config.model_module == "registered_model"
    assert train(config).complete
