"""What a training command shows and stops on: one line per epoch with or without a progress bar, Ctrl-C with a
resume hint, and a clear stop at a non-finite loss that keeps the last good checkpoint. These tests train."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from atlib.store.records import RecordStore
from atlib.store.runs import load_run

from tinydata import REPO, tiny_config

pytestmark = pytest.mark.slow
EPOCH_LINE = re.compile(r"^epoch +(\d+)/3  lr [\d.e-]+  loss [\d.]+  train [\d.]+  test [\d.]+  neg [\d.]+  \d+ img/s  "
                        r"ETA \d+:\d\d$")


def _command(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "atlib.train", "--model", "small_cnn", "--method", "nt", "--epochs", "3",
        "--batch-size", "16", "--lr", "0.05", "--lr-milestones", "2", "--robust-eval-n", "16", "--robust-eval-steps", "1",
        "--data-root", str(root), "--neg-path", str(root / "CIFAR10_neg.npz"), "--out-dir", str(out), *extra,
    ]


def test_one_line_per_epoch_then_ctrl_c_then_resume(tiny_root: Path, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("ATLIB_DEBUG", None)
    command = _command(tiny_root, tmp_path, "--no-progress")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = ""
    for first in proc.stdout:  # wait for the first epoch's line (printed and flushed as the epoch ends)
        if first.startswith("epoch"):
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=300)
    assert EPOCH_LINE.match(first.rstrip()) and first.startswith("epoch   1/3"), first
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; resume with the same command" and "Traceback" not in err

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    lines = [line for line in resumed.stdout.splitlines() if line.startswith("epoch")]
    assert [EPOCH_LINE.match(line).group(1) for line in lines] == ["2", "3"]  # resumed after epoch 1's checkpoint
    assert "\r" not in resumed.stderr  # no progress bar off a terminal


def test_progress_on_prints_the_same_lines_and_no_bar_off_a_terminal(tiny_root: Path, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run(_command(tiny_root, tmp_path, "--progress"), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch")]
    assert [EPOCH_LINE.match(line).group(1) for line in lines] == ["1", "2", "3"]
    assert "\r" not in result.stderr and "batch/s" not in result.stderr and "it/s" not in result.stderr


def test_training_stops_at_a_non_finite_loss_and_keeps_the_last_checkpoint(tiny_root: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from atlib.train import train
    from atlib.train.loop import Trainer, TrainingDiverged

    step = Trainer._step

    def diverging(self, batch, epoch, index):  # the loss turns NaN in the second epoch
        out = step(self, batch, epoch, index)
        return out if epoch == 0 else out * torch.tensor([float("nan"), 1.0, 1.0])

    monkeypatch.setattr(Trainer, "_step", diverging)
    config = tiny_config(tiny_root, tmp_path, epochs=2, record_per_epoch=2)
    with pytest.raises(TrainingDiverged, match=r"training loss is nan at record point 3 \(epoch 2\)"):
        train(config)
    run_dir = tmp_path / config.run_name
    assert RecordStore(run_dir / "records").count == 2  # the NaN point was not recorded
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["position"]["points"] == 2
    assert not (run_dir / "metrics.json").exists()
    monkeypatch.setattr(Trainer, "_step", step)
    assert load_run(train(config).path).num_points == 4  # the same command resumes from the last good point


# ----------------------------------------------------------------------------- log.jsonl and TensorBoard


def _scalars(folder: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of every event TensorBoard shows for ``tag``, purged events left out as TensorBoard does."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.parametrize("tensorboard", [False, True])
def test_log_and_tensorboard_follow_the_records_after_a_kill(tiny_root: Path, tmp_path: Path, tensorboard: bool) -> None:
    import json
    import time

    if tensorboard:
        pytest.importorskip("tensorboard")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    command = _command(tiny_root, tmp_path, "--no-progress", "--record-per-epoch", "3",
                       *(["--tensorboard"] if tensorboard else []))
    run_dir = tmp_path / "cifar10_small_cnn_nt_s0"
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index, deadline = run_dir / "records" / "index.json", time.time() + 300
    while time.time() < deadline:  # kill -9 once a few points are stored, part-way through the run
        if index.exists() and json.loads(index.read_text())["count"] >= 4:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert 4 <= RecordStore(index.parent).count < 9, "the run must be killed part-way"
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)

    points = load_run(run_dir).records.points
    logged = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert len(points) == 9 and logged == points  # exactly one line per record point, the same numbers
    if tensorboard:
        assert list((run_dir / "tb").glob("events.out.tfevents.*"))
        for tag, name in (("accuracy/test", "test_acc"), ("loss/train", "train_loss"), ("schedule/lr", "lr")):
            shown = _scalars(run_dir / "tb", tag)
            assert [step for step, _ in shown] == [p["step"] for p in points], tag  # each point once, in order
            assert [value for _, value in shown] == pytest.approx([p[name] for p in points], rel=1e-6)
    else:
        assert not (run_dir / "tb").exists()


def test_a_resumed_sessions_event_file_is_read_after_the_one_it_follows(tmp_path: Path) -> None:
    """TensorBoard reads event files in name order, and names start with the creation second: a session resumed
    within that second must still sort last, or the earlier session's restart marker purges its points."""
    pytest.importorskip("tensorboard")
    import time

    from atlib.train.tensorboard import Curves

    folder = tmp_path / "tb"
    folder.mkdir()
    earlier = f"events.out.tfevents.{int(time.time()) + 1}.host.99999999.0"  # a killed session's, this second or the next
    (folder / earlier).write_bytes(b"")
    Curves(folder, [{"step": 4}]).close()
    names = sorted(p.name for p in folder.glob("events.out.tfevents.*"))
    assert len(names) == 2 and names[0] == earlier


def test_tensorboard_without_the_package_fails_before_any_folder(tiny_root: Path, tmp_path: Path) -> None:
    hide = ("import runpy, sys\nsys.modules['tensorboard'] = None  # as if it were not installed\n"
            f"sys.argv = ['python -m atlib.train', *{_command(tiny_root, tmp_path, '--tensorboard')[3:]!r}]\n"
            "runpy.run_module('atlib.train', run_name='__main__')")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ATLIB_DEBUG", None)
    result = subprocess.run([sys.executable, "-c", hide], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --tensorboard needs the optional package tensorboard, which is not installed: pip install tensorboard "
        "(or train without --tensorboard; log.jsonl holds the same numbers)"]
    assert not list(tmp_path.iterdir())
