"""Per-presentation training statistics and the training probe, recorded by the loop: values equal a
direct computation from the model, the presentations follow the loader's plan (synthetic mixing too),
and an interruption at any point resumes to the same records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tinydata import tiny_config


def test_statistics_are_those_of_the_training_forward() -> None:
    from atlib.dynamics.recorder import presentation_stats

    logits = torch.tensor([[2.0, 1.0, -1.0], [0.5, 3.0, 0.0]])
    y = torch.tensor([0, 2])
    stats = presentation_stats(logits, y)
    p = logits.softmax(1)
    torch.testing.assert_close(stats["loss"], -p.log()[[0, 1], [0, 2]])
    torch.testing.assert_close(stats["p_true"], p[[0, 1], [0, 2]])
    torch.testing.assert_close(stats["margin"], torch.tensor([2.0 - 1.0, 0.0 - 3.0]))  # on logits, vs the best other class
    torch.testing.assert_close(stats["correct"], torch.tensor([1.0, 0.0]))  # argmax, not p > 0.5


@pytest.mark.slow
def test_presentations_follow_the_loaders_plan_with_synthetic_batches(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.data.mixing import make_plan
    from atlib.train import train

    # The paper's scale, from the plan alone: half-synthetic batches of 128 present 391 x 64 originals an epoch.
    plan = make_plan(50_000, 128, train=True, seed=0, epoch=0, num_synthetic_rows=1_000_000, synthetic_per_batch=64)
    assert sum(plan.num_original) == 25_024 and int((~plan.is_synthetic).sum()) == 25_024

    rng = np.random.default_rng(0)
    synthetic = tmp_path / "synth.npz"
    np.savez(synthetic, image=rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8), label=np.arange(50) % 10)
    run = train(tiny_config(tiny_root, tmp_path / "runs", method="at", synthetic=str(synthetic), synthetic_fraction=0.5,
                            robust_eval_n=0, train_probe_size=40))
    store = run.dynamics
    assert store.epochs_done == 2 and store.meta["input"] == "adversarial"
    step = store.step()
    for epoch in range(2):  # 240 originals, 8 batches of 16 originals + 16 synthetic rows: 128 originals an epoch
        plan = make_plan(240, 32, train=True, seed=0, epoch=epoch, num_synthetic_rows=50, synthetic_per_batch=16)
        presented = plan.rows[~plan.is_synthetic].numpy()
        assert sorted(np.flatnonzero(step[epoch] >= 0)) == sorted(presented)
        assert np.isnan(store.field("loss")[epoch][step[epoch] < 0]).all()
        # the step of each presentation: batch b of epoch e is step e * 8 + b + 1
        batch_of = np.repeat(np.arange(8), 16)
        np.testing.assert_array_equal(step[epoch][presented], epoch * 8 + batch_of + 1)
    rows = store.synthetic()
    assert len(rows["step"]) == 2 * 8 * 16 and set(np.unique(rows["step"])) == set(range(1, 17))
    assert rows["index"].max() < 50 and np.array_equal(rows["label"], rows["index"] % 10)
    assert run.probs("probe").shape == (4, 40, 10)
    probe_rows = np.load(run.path / "records" / "probe_index.npy")
    assert np.bincount(run.labels("probe"), minlength=10).tolist() == [4] * 10 and len(probe_rows) == 40


@pytest.mark.slow
@pytest.mark.parametrize("crash_points, when", [(3, "after"), (2, "before")])
def test_an_interrupted_run_resumes_to_the_same_training_records(tiny_root: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 crash_points: int, when: str) -> None:
    """Crash after the checkpoint of a mid-epoch point, or after an epoch's rows were written but before
    its checkpoint (the resumed run then writes that epoch again)."""
    from atlib.train import Trainer, train

    config = dict(method="at", robust_eval_n=0, record_train_clean=True, train_probe_size=20)
    whole = train(tiny_config(tiny_root, tmp_path / "whole", **config))
    original = Trainer._checkpoint

    def crash(self, test_acc: float) -> None:
        if when == "after":
            original(self, test_acc)
        if self.position.points == crash_points:
            raise KeyboardInterrupt
        if when == "before":
            original(self, test_acc)

    monkeypatch.setattr(Trainer, "_checkpoint", crash)
    interrupted = tiny_config(tiny_root, tmp_path / "resumed", **config)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted)
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    resumed = train(interrupted)
    for clean in (False, True):
        for name in ("loss", "correct", "p_true", "margin"):
            np.testing.assert_array_equal(whole.dynamics.field(name, clean=clean), resumed.dynamics.field(name, clean=clean))
    np.testing.assert_array_equal(whole.dynamics.step(), resumed.dynamics.step())
    np.testing.assert_array_equal(whole.probs("probe"), resumed.probs("probe"))


@pytest.mark.slow
def test_bad_probe_size_and_turning_recording_off(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.config import TrainConfig
    from atlib.train import train

    with pytest.raises(ValueError, match="train_probe_size=500 exceeds the 240 training examples"):
        train(tiny_config(tiny_root, tmp_path, train_probe_size=500))
    with pytest.raises(ValueError, match="record_train_clean .* needs record_train"):
        TrainConfig(record_train=False, record_train_clean=True)
    run = train(tiny_config(tiny_root, tmp_path, record_train=False, train_probe_size=0, epochs=1))
    assert run.dynamics is None and "probe" not in run.records.sets


@pytest.mark.slow
def test_a_run_stored_before_training_records_resumes_without_them(tiny_root: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A run started by an atlib without record_train/train_probe_size (its config.json lacks them, its
    records have no probe) resumes with today's defaults, and records what it recorded before."""
    from atlib.store.io import read_json, write_json
    from atlib.train import Trainer, train

    legacy = tiny_config(tiny_root, tmp_path, record_train=False, train_probe_size=0)
    original = Trainer._checkpoint

    def crash(self, test_acc: float) -> None:
        original(self, test_acc)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        train(legacy)
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    stored_path = Path(legacy.out_dir) / legacy.run_name / "config.json"
    checkpoint = stored_path.parent / "checkpoint.pt"  # as that atlib wrote it: without the run's identity
    torch.save({k: v for k, v in torch.load(checkpoint, weights_only=True).items() if k != "run"}, checkpoint)
    stored = read_json(stored_path)
    del stored["record_train"], stored["train_probe_size"], stored["record_train_clean"]
    write_json(stored_path, stored)
    run = train(tiny_config(tiny_root, tmp_path))  # today's defaults: record_train on, a probe
    assert run.complete and run.num_points == 4 and run.meta["resumed"] == 1
    assert run.dynamics is None and sorted(run.records.sets) == ["neg", "test"]
