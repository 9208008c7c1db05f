"""Run folders written before the method-parity change (tests/legacy/, see its README) load, analyse and resume
as what they were: options they lack, and options whose default or meaning changed since, are read as the
behaviour they were trained with (atlib.config.READ_AS_BEFORE), and the same command resumes a partial run
bitwise equal to its complete twin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from atlib import analysis
from atlib.config import READ_AS_BEFORE, TrainConfig
from atlib.store.runs import group_seeds, load_runs
from atlib.train.loop import method_parts

LEGACY = Path(__file__).parent / "legacy"
TRADES = "cifar10_small_cnn_trades8_beta6_awp0.005_warmup1_ema0.99_s0"
FGSM = "cifar10_small_cnn_fgsm_rs8_s0"
NT = "cifar10_small_cnn_nt_s0"
EXTERNAL = "cifar10_small_cnn_external_legacy"
# The commands that wrote them (tests/legacy/README.md), as TrainConfig fields.
COMMON = dict(model="small_cnn", batch_size=32, lr=0.05, lr_milestones=(1,), record_per_epoch=2, pgd_steps=2,
              robust_eval_n=20, robust_eval_steps=1, eval_batch_size=64, train_probe_size=20, progress=False)
COMMANDS = {
    TRADES: dict(method="trades", epsilon_255=8, awp_gamma=0.005, awp_warmup=1, ema_decay=0.99, epochs=3),
    FGSM: dict(method="fgsm_rs", epsilon_255=8, epochs=3),
}


def _point_at(folder: Path, root: Path) -> None:
    """The copied run reads the tests' toy data (the same data, written by tests/tinydata.py) instead of
    /tmp/legacy_data, in its config and in its recorded inputs."""
    neg = str(root / "CIFAR10_neg.npz")
    config = json.loads((folder / "config.json").read_text())
    config.update(data_root=str(root), neg_path=neg, out_dir=str(folder.parent))
    (folder / "config.json").write_text(json.dumps(config))
    meta = json.loads((folder / "meta.json").read_text())
    if "inputs" in meta:
        meta["inputs"].update(cifar_root=str(root), neg_path=neg)
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.fixture
def legacy(tmp_path: Path, tiny_root: Path) -> Path:
    """A copy of tests/legacy pointed at the toy data (tests never write under tests/legacy)."""
    copy = tmp_path / "legacy"
    shutil.copytree(LEGACY, copy)
    for folder in [*copy.glob("complete/*"), *copy.glob("partial/*")]:
        _point_at(folder, tiny_root)
    return copy


def test_complete_runs_load_with_the_behaviour_they_were_trained_with(legacy: Path) -> None:
    runs = {r.path.name: r for r in load_runs(legacy / "complete")}
    assert sorted(runs) == sorted([TRADES, FGSM, NT, EXTERNAL])
    for name, run in runs.items():
        config = run.config
        assert config.run_name == name  # folder names never change
        assert (config.ema_warmup, config.reference_step) == (False, False)
        assert config.source == ("external" if name == EXTERNAL else "trained")
    assert runs[FGSM].config.attack_bn_mode == "eval"  # today's FGSM-RS default is train
    assert runs[FGSM].label == "FGSM-RS ε=8/255 + attack BN eval"
    assert runs[TRADES].label == "TRADES β=6 ε=8/255 + AWP γ=0.005 + warm-up 1 + EMA 0.99 + no EMA warm-up + pre-parity step"
    assert runs[NT].label == "NT"  # options that change nothing in a run are not shown
    loss, awp, ema = method_parts(runs[TRADES].config, torch.nn.Linear(2, 2), 10)
    assert not loss.reference_step and loss.bn_mode == "eval"
    assert [awp.active(e) for e in range(3)] == [False, True, True]  # warm-up 1 meant one epoch without AWP
    assert ema.use_buffers and int(ema.n_averaged) == 0  # the constant decay, BN statistics averaged
    assert method_parts(runs[FGSM].config, torch.nn.Linear(2, 2), 10)[0].bn_mode == "eval"


def test_complete_runs_analyse(legacy: Path) -> None:
    groups = group_seeds(load_runs(legacy / "complete"))
    curves = analysis.mean_entropy_curves(groups)
    assert set(curves["method"]) == {"nt", "trades", "fgsm_rs", "external"}
    assert len(curves) == sum(g.num_points for g in groups) and np.isfinite(curves["mean"]).all()


def test_complete_runs_give_claims_evidence(legacy: Path) -> None:
    from atlib.claims import evidence

    groups = group_seeds(load_runs(legacy / "complete"))
    found = evidence.collect(groups, np.array([0.05, 0.1]), workers=1)
    assert len(found) == len(groups) == 4
    for group, setting in zip(groups, found):
        run = group.runs[0]
        assert run.complete and np.isfinite(run.clean_acc) and run.robust_acc  # the final metrics, by name
        assert len(setting.runs) == 1 and np.isfinite(setting.runs[0].clean_acc[0])


def _same_run(resumed: Path, complete: Path) -> None:
    """Records, training statistics, final model and metrics bitwise those of the uninterrupted run."""
    for sub in ("records", "dynamics"):
        for path in sorted((complete / sub).glob("*.npy")):
            assert np.array_equal(np.load(path), np.load(resumed / sub / path.name), equal_nan=True), path.name
    points = [{k: v for k, v in p.items() if k != "time"} for p in json.loads((complete / "records/index.json").read_text())["points"]]
    ours = [{k: v for k, v in p.items() if k != "time"} for p in json.loads((resumed / "records/index.json").read_text())["points"]]
    assert ours == points
    theirs = torch.load(complete / "checkpoint.pt", weights_only=True)
    mine = torch.load(resumed / "checkpoint.pt", weights_only=True)
    for key in ("model", "ema"):
        if key in theirs:
            for name, tensor in theirs[key].items():
                assert torch.equal(tensor, mine[key][name]), f"{key}.{name}"
    assert json.loads((resumed / "metrics.json").read_text()) == json.loads((complete / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", [TRADES, FGSM])
def test_partial_runs_resume_with_the_same_command_bitwise_equal_to_their_complete_twin(legacy: Path, tiny_root: Path,
                                                                                         name: str, one_thread: None) -> None:
    """The stored twins were written with one thread (as ``make test``'s workers run): so is the resume."""
    from atlib.train import train

    command = TrainConfig.from_overrides({**COMMON, **COMMANDS[name], "data_root": str(tiny_root),
                                          "neg_path": str(tiny_root / "CIFAR10_neg.npz"), "out_dir": str(legacy / "partial")})
    assert command.run_name == name
    run = train(command)
    assert run.complete and run.meta["resumed"] == 1
    fields = run.meta["read_as_before"]["fields"]
    assert set(fields) <= set(READ_AS_BEFORE) and fields["attack_bn_mode"] == "eval"
    if name == TRADES:
        assert fields == {"attack_bn_mode": "eval", "ema_warmup": False, "reference_step": False}
    assert json.loads((run.path / "config.json").read_text()) == json.loads((legacy / "complete" / name / "config.json").read_text()) | {
        "out_dir": str(legacy / "partial")}  # the stored config is left as it was
    _same_run(run.path, legacy / "complete" / name)
