"""Training engine: tiny NT/AT runs on CPU, records, exact resume after kill -9, the run store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from atlib.config import TrainConfig, learning_rate
from atlib.store.records import RecordStore
from atlib.store.runs import group_seeds, load_run, load_runs, run_status
from atlib.subsets import balanced_subset

from tinydata import REPO, tiny_config


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nt", "at"])
def test_tiny_run_completes_with_valid_records(tiny_root: Path, tmp_path: Path, method: str) -> None:
    from atlib.train import train

    run = train(tiny_config(tiny_root, tmp_path, method=method))
    assert run.complete and run.name == f"cifar10_small_cnn_{'nt' if method == 'nt' else 'at8'}_s0"
    probs = run.probs("test")
    assert probs.shape == (4, 80, 10) and probs.dtype == np.float16  # T = 2 epochs x 2 points
    np.testing.assert_allclose(probs.astype(np.float64).sum(-1), 1.0, atol=5e-3)
    assert run.probs("neg").shape == (4, 20, 10)
    np.testing.assert_array_equal(run.epochs, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(run.point_values("lr"), [0.05, 0.05, 0.005, 0.005], rtol=1e-12)
    # test_acc of each point is the accuracy of its recorded probabilities
    labels = run.labels("test")
    np.testing.assert_allclose(run.point_values("test_acc"), (probs.argmax(-1) == labels).mean(-1), atol=1e-9)
    assert set(run.metrics["robust_acc"]) == ({"8"})
    assert 0.0 <= run.metrics["robust_acc"]["8"] <= run.metrics["clean_acc"] + 0.1
    for key in ("atlib_version", "torch_version", "device", "started", "ended", "wall_time_s"):
        assert key in run.meta
    assert run_status(run.path) == "done"


@pytest.mark.slow
def test_training_learns_toy_task(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.train import train

    run = train(tiny_config(tiny_root, tmp_path, epochs=4, lr_milestones=(3,)))
    assert run.point_values("test_acc")[-1] >= 0.5  # chance is 0.1


@pytest.mark.slow
def test_finished_run_is_not_retrained(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.train import train

    config = tiny_config(tiny_root, tmp_path)
    first = train(config)
    stamps = {p: p.stat().st_mtime_ns for p in first.path.rglob("*") if p.is_file()}
    again = train(config)
    assert {p: p.stat().st_mtime_ns for p in again.path.rglob("*") if p.is_file()} == stamps
    forced = train(config, force=True)
    assert (forced.path / "checkpoint.pt").stat().st_mtime_ns != stamps[first.path / "checkpoint.pt"]


@pytest.mark.slow
def test_conflicting_config_is_refused(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.train import train

    train(tiny_config(tiny_root, tmp_path))
    with pytest.raises(ValueError, match="different config(.|\n)*lr"):
        train(tiny_config(tiny_root, tmp_path, lr=0.2))


def _cli(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "atlib.train", "--model", "small_cnn", "--method", "at", "--epsilon-255", "8",
        "--pgd-steps", "2", "--epochs", "3", "--batch-size", "16", "--lr", "0.05", "--lr-milestones", "2",
        "--record-per-epoch", "3", "--robust-eval-n", "16", "--robust-eval-steps", "1", "--data-root", str(root),
        "--neg-path", str(root / "CIFAR10_neg.npz"), "--out-dir", str(out), "--no-progress", *extra,
    ]


@pytest.mark.slow
def test_killed_run_resumes_to_identical_records(tiny_root: Path, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    subprocess.run(_cli(tiny_root, tmp_path / "full"), check=True, env=env, capture_output=True)

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(_cli(tiny_root, killed_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = killed_dir / "cifar10_small_cnn_at8_s0" / "records" / "index.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill -9 once a few points are stored, in the middle of an epoch
        if index.exists() and json.loads(index.read_text())["count"] >= 4:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = RecordStore(index.parent)
    assert 4 <= partial.count < 9, "the run must be killed part-way"
    subprocess.run(_cli(tiny_root, killed_dir), check=True, env=env, capture_output=True)

    full, resumed = load_run(tmp_path / "full" / "cifar10_small_cnn_at8_s0"), load_run(index.parents[1])
    assert resumed.meta["resumed"] == 1
    for split in ("test", "neg", "probe"):
        np.testing.assert_array_equal(full.probs(split), resumed.probs(split))  # bitwise
    for name in ("loss", "correct", "p_true", "margin"):  # the per-presentation training statistics too
        np.testing.assert_array_equal(full.dynamics.field(name), resumed.dynamics.field(name))
    np.testing.assert_array_equal(full.dynamics.step(), resumed.dynamics.step())
    strip = lambda pts: [{k: v for k, v in p.items() if k != "time"} for p in pts]  # noqa: E731
    assert strip(full.records.points) == strip(resumed.records.points)


def test_record_store_exposes_only_complete_points(tmp_path: Path) -> None:
    store = RecordStore.create(tmp_path / "rec", capacity=3, labels={"test": np.array([0, 1])}, num_classes=2)
    p = np.array([[0.25, 0.75], [1.0, 0.0]])
    store.append({"epoch": 1}, {"test": p})
    # a writer killed after writing rows but before the index update: the rows exist on disk, uncounted
    raw = np.load(tmp_path / "rec" / "test_probs.npy", mmap_mode="r+")
    raw[1] = 0.5
    raw.flush()
    reopened = RecordStore(tmp_path / "rec")
    assert reopened.count == 1 and reopened.probs("test").shape == (1, 2, 2)
    np.testing.assert_array_equal(reopened.probs("test")[0], p.astype(np.float16))
    with pytest.raises(KeyError, match="exactly"):
        reopened.append({"epoch": 2}, {"neg": p})
    with pytest.raises(ValueError, match="shape"):
        reopened.append({"epoch": 2}, {"test": p[:1]})
    reopened.truncate(0)
    assert RecordStore(tmp_path / "rec").count == 0


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(method="at", epsilon_255=0.03), "1/255 units"),
        (dict(method="at", epsilon_255=300), "1/255 units"),
        (dict(dataset="mnist"), "dataset"),
        (dict(method="pgd"), "method"),
        (dict(synthetic_fraction=1.0), "synthetic_fraction"),
        (dict(lr_milestones=(90, 70)), "increasing"),
        (dict(attack_bn_mode="frozen"), "attack_bn_mode"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_configs_get_clear_errors(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_paper_defaults_and_schedule() -> None:
    config = TrainConfig()
    assert (config.lr, config.batch_size, config.weight_decay, config.momentum, config.epochs) == (0.1, 128, 1e-4, 0.9, 120)
    assert (config.method, config.epsilon, config.pgd_steps) == ("at", 8 / 255, 10)
    assert [learning_rate(config, e) for e in (0, 69, 70, 89, 90, 119)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert TrainConfig(method="nt").epsilon_255 == 0
    assert TrainConfig(synthetic="x.npz", epsilon_255=8).run_name == "cifar10_resnet18_at8_synth0.5_s0"


def test_cli_maps_every_option() -> None:
    from atlib.train.cli import config_from_args

    config, force = config_from_args(
        ["--preset", "demo", "--method", "at", "--epsilon-255", "2", "--amp", "off", "--lr-milestones", "1", "2",
         "--synthetic", "s.npz", "--synthetic-fraction", "0.3", "--force"]
    )
    assert force and config.model == "small_cnn" and config.epsilon_255 == 2 and config.amp == "off"
    assert config.lr_milestones == (1, 2) and config.synthetic_fraction == 0.3
    assert config.run_name == "cifar10_small_cnn_at2_synth0.3_s0"


def test_cli_reports_bad_input(tmp_path: Path) -> None:
    from atlib.train.cli import main

    assert main(["--method", "at", "--epsilon-255", "0.03", "--out-dir", str(tmp_path)]) == 2


@pytest.mark.slow
def test_runs_group_by_seed(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.train import train

    for seed in (0, 1):
        train(tiny_config(tiny_root, tmp_path, seed=seed))
    train(tiny_config(tiny_root, tmp_path, method="at"))
    groups = group_seeds(load_runs(tmp_path))
    assert [(g.label, g.seeds) for g in groups] == [("NT", [0, 1]), ("AT ε=8/255", [0])]
    assert groups[0].probs().shape == (2, 4, 80, 10)
    assert groups[0].point_values("neg_acc").shape == (2, 4)
    assert not np.array_equal(groups[0].probs()[0], groups[0].probs()[1])  # seeds differ


def test_balanced_subset() -> None:
    labels = np.repeat(np.arange(4), 5)
    idx = balanced_subset(labels, 10)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 2, 2]
    assert np.array_equal(idx, np.sort(idx))
    with pytest.raises(ValueError):
        balanced_subset(labels, 30)


@pytest.mark.slow
def test_torchrun_ddp_on_cpu(tiny_root: Path, tmp_path: Path) -> None:
    """Two gloo ranks train one run; rank 0 alone writes a complete, valid run folder."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    with socket.socket() as sock:  # torchrun needs a concrete free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "atlib.train",
           "--model", "small_cnn", "--method", "at", "--pgd-steps", "1", "--epochs", "2", "--batch-size", "32",
           "--lr-milestones", "1", "--record-per-epoch", "2", "--robust-eval-n", "16", "--device", "cpu",
           "--data-root", str(tiny_root), "--neg-path", str(tiny_root / "CIFAR10_neg.npz"), "--out-dir", str(tmp_path), "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = load_run(tmp_path / "cifar10_small_cnn_at8_s0")
    assert run.complete and run.meta["world_size"] == 2 and run.num_points == 4
    np.testing.assert_allclose(run.probs("test").astype(np.float64).sum(-1), 1.0, atol=5e-3)
