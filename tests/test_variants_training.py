"""The AT variants through the one training loop: every method trains and records like NT/AT; the weight
EMA is recorded beside the raw model without changing it, and resumes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinydata import tiny_config


@pytest.mark.parametrize("changes, name", [
    (dict(method="trades"), "cifar10_small_cnn_trades8_beta6_s0"),
    (dict(method="mart", mart_beta=5.0), "cifar10_small_cnn_mart8_beta5_s0"),
    (dict(method="fgsm_rs"), "cifar10_small_cnn_fgsm_rs8_s0"),
    (dict(method="at", awp_gamma=0.01), "cifar10_small_cnn_at8_awp0.01_s0"),
    (dict(method="trades", awp_gamma=0.005, awp_warmup=1), "cifar10_small_cnn_trades8_beta6_awp0.005_warmup1_s0"),
])
@pytest.mark.slow
def test_every_method_trains_and_records_like_at(tiny_root: Path, tmp_path: Path, changes: dict, name: str) -> None:
    from atlib.train import train

    run = train(tiny_config(tiny_root, tmp_path, robust_eval_n=20, **changes))
    assert run.complete and run.name == name
    probs = run.probs("test")
    assert probs.shape == (4, 80, 10) and run.probs("neg").shape == (4, 20, 10)
    np.testing.assert_allclose(probs.astype(np.float64).sum(-1), 1.0, atol=5e-3)
    assert np.isfinite(run.point_values("train_loss")).all()
    assert set(run.metrics["robust_acc"]) == {"8"} and 0 <= run.metrics["robust_acc"]["8"] <= 1


@pytest.mark.slow
def test_ema_is_recorded_beside_a_raw_model_it_leaves_untouched(tiny_root: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from atlib.train import Trainer, train

    plain = train(tiny_config(tiny_root, tmp_path / "plain", method="at", robust_eval_n=20))
    ema = train(tiny_config(tiny_root, tmp_path / "ema", method="at", robust_eval_n=20, ema_decay=0.9))
    assert ema.name == "cifar10_small_cnn_at8_ema0.9_s0"
    for split in ("test", "neg"):  # the raw records are bitwise those of the run without EMA
        np.testing.assert_array_equal(plain.probs(split), ema.probs(split))
        assert ema.probs(f"{split}_ema").shape == ema.probs(split).shape
    assert not np.array_equal(ema.probs("test_ema"), ema.probs("test"))
    assert ema.point_values("test_acc_ema").shape == (4,) and set(ema.metrics["ema"]) >= {"clean_acc", "robust_acc", "neg_acc"}
    assert ema.metrics["ema"]["clean_acc"] == ema.point_values("test_acc_ema")[-1]
    from atlib import analysis, metrics
    from atlib.store.runs import group_seeds

    curves = analysis.mean_entropy_curves(group_seeds([ema]), split="test_ema")  # analysis reads the EMA records by split
    np.testing.assert_allclose(curves["mean"], metrics.mean_entropy_over_time(ema.probs("test_ema")), rtol=1e-6)

    # Interrupted right after the checkpoint of the second record point, then resumed: the same records.
    original = Trainer._checkpoint

    def crash_after_second(self, test_acc: float) -> None:
        original(self, test_acc)
        if self.position.points == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_checkpoint", crash_after_second)
    config = tiny_config(tiny_root, tmp_path / "resumed", method="at", robust_eval_n=20, ema_decay=0.9)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(Trainer, "_checkpoint", original)
    resumed = train(config)
    assert resumed.meta["resumed"] == 1
    for split in ("test", "neg", "test_ema", "neg_ema"):
        np.testing.assert_array_equal(resumed.probs(split), ema.probs(split))


@pytest.mark.parametrize("changes, message", [
    (dict(method="nt", awp_gamma=0.01), "applies to methods at and trades"),
    (dict(method="trades", trades_beta=-1.0), "trades_beta must be >= 0"),
    (dict(ema_decay=1.0), r"ema_decay must be in \(0, 1\)"),
    (dict(method="pgd"), "method must be one of nt, at, trades, mart, fgsm_rs"),
    (dict(method="mart", epsilon_255=0), "needs epsilon_255 > 0"),
])
def test_bad_method_settings_get_clear_errors(changes: dict, message: str) -> None:
    from atlib.config import TrainConfig

    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_external_runs_are_not_trained(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.train import train

    with pytest.raises(ValueError, match="checkpoints trained elsewhere"):
        train(tiny_config(tiny_root, tmp_path, method="external", epsilon_255=0))
