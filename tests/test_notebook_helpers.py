"""atlib.notebook_helpers: notebooks find the repository and the runs wherever their kernel starts, and report
missing seeds only against the runs' own plan."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from atlib import notebook_helpers as nh
from atlib.config import TrainConfig
from atlib.notebooks import _relative, REPO_ROOT
from atlib.store.writer import RunWriter
from atlib.store.runs import group_seeds, load_runs
from fakeruns import make_run, random_probs


def _repo(root: Path) -> Path:
    (root / "atlib").mkdir(parents=True)
    (root / "notebooks").mkdir()
    return root


def _runs(folder: Path, seeds=(0,), plan: dict | None = None, complete: bool = True, method: str = "nt") -> Path:
    for seed in seeds:
        run = make_run(folder, TrainConfig(model="small_cnn", method=method, seed=seed),
                       random_probs(np.random.default_rng(seed), 2, 4, 10), np.arange(4), complete=complete)
        if plan is not None:
            with RunWriter.reopen(run) as writer:
                writer.write_meta(plan=plan)
    return folder


def test_repo_root_is_found_from_any_folder_inside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "clone")
    monkeypatch.chdir(root / "notebooks")  # where JupyterLab starts a notebook's kernel
    assert nh.repo_root() == root
    assert nh.at_root("outputs/x") == root / "outputs/x"
    assert nh.at_root("/abs/y") == Path("/abs/y")
    assert nh.repo_root(tmp_path) == REPO_ROOT  # outside any checkout: the one atlib was imported from


def test_runs_left_at_none_are_the_newest_runs_folder_with_finished_runs(tmp_path: Path, capsys) -> None:
    root = _repo(tmp_path / "clone")
    older = _runs(root / "outputs" / "runs")
    newer = _runs(root / "outputs" / "demo" / "runs")
    _runs(root / "outputs" / "sweeps" / "s1" / "runs", complete=False)  # unfinished only: not offered
    past = time.time() - 3600
    for run in older.iterdir():
        os.utime(run, (past, past))
    assert nh.runs_folders(root) == [newer, older]
    assert nh.resolve_runs(None, root) == str(newer)
    assert "runs: outputs/demo/runs (the most recently written" in capsys.readouterr().out
    assert nh.resolve_runs("outputs/runs", root) == str(older)  # relative to the root, not to the cwd


def test_runs_not_found_lists_the_runs_folders_that_exist(tmp_path: Path) -> None:
    root = _repo(tmp_path / "clone")
    _runs(root / "outputs" / "demo" / "runs")
    with pytest.raises(FileNotFoundError, match=r"no runs match 'outputs/runs/cifar10_\*'.*finished runs here: outputs/demo/runs"):
        nh.resolve_runs("outputs/runs/cifar10_*", root)
    with pytest.raises(FileNotFoundError, match="make demo"):
        nh.latest_runs_folder(_repo(tmp_path / "empty"))


def test_missing_seeds_are_reported_against_the_plan_only(tmp_path: Path) -> None:
    planned = group_seeds(load_runs(_runs(tmp_path / "a", seeds=(0, 1), plan={"grid": "demo", "seeds": [0, 1, 2]})))
    unplanned = group_seeds(load_runs(_runs(tmp_path / "b", seeds=(0, 1))))
    complete = group_seeds(load_runs(_runs(tmp_path / "c", seeds=(0, 1), plan={"grid": "demo", "seeds": [0, 1]})))
    assert nh.missing_seeds(planned) == ["NT (cifar10): seeds [2] missing (have [0, 1]; its plan: [0, 1, 2])"]
    assert nh.missing_seeds(unplanned) == [] and nh.missing_seeds(complete) == []
    assert nh.missing_seeds(unplanned, 3) == ["NT (cifar10): seeds [2] missing (have [0, 1]; expected_seeds: [0, 1, 2])"]


def test_injected_paths_are_relative_to_the_repository_root() -> None:
    assert _relative(str(REPO_ROOT / "outputs" / "demo" / "runs")) == "outputs/demo/runs"
    assert _relative("/elsewhere/runs") == "/elsewhere/runs" and _relative(8) == 8 and _relative("outputs/x") == "outputs/x"
