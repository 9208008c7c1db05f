"""Checkpoints trained by other code: key layouts of public CIFAR code (against reference networks written
here in those layouts), a checkpoint series recorded as a run, and the evaluate CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from atlib import analysis
from atlib.evaluate.__main__ import main as evaluate_main
from atlib.evaluate.accuracy import predict_proba
from atlib.evaluate.external import checkpoint_series, record_checkpoints
from atlib.evaluate.trained import load_trained_model
from atlib.datasets import DATASET_INFO
from atlib.models import build_model, load_external
from atlib.store.runs import group_seeds, load_runs
from tinydata import CLASSES



def _randomize_bn(net: nn.Module, seed: int) -> None:
    """Non-trivial BN statistics and affine parameters, so a BN loaded into the wrong place shows."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(1 + 0.1 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))


# ----------------------------------------------------------------------------- reference networks in public layouts


class KuangliuBlock(nn.Module):
    """The post-activation block of the widespread kuangliu-style CIFAR ResNet (also MART's resnet.py)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class KuangliuResNet18(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        c_in = 64
        for s, (width, stride) in enumerate(zip((64, 128, 256, 512), (1, 2, 2, 2)), start=1):
            setattr(self, f"layer{s}", nn.Sequential(KuangliuBlock(c_in, width, stride), KuangliuBlock(width, width, 1)))
            c_in = width
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(F.avg_pool2d(out, 4).flatten(1))


class TradesWRNBlock(nn.Module):
    """The WideResNet block of the TRADES/MART/AWP code: BN-ReLU first; when the width changes, the 1x1
    ``convShortcut`` takes the pre-activated input."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.equal = c_in == c_out
        self.convShortcut = None if self.equal else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.equal else self.convShortcut(pre))


class TradesStage(nn.Module):
    def __init__(self, n: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[TradesWRNBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1) for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class TradesWRN(nn.Module):
    """TRADES's WideResNet-34-10 layout, including its ``sub_block1`` that the forward never uses."""

    def __init__(self, depth: int = 34, widen: int = 10, num_classes: int = 10) -> None:
        super().__init__()
        n, w = (depth - 4) // 6, (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(3, w[0], 3, 1, 1, bias=False)
        self.block1 = TradesStage(n, w[0], w[1], 1)
        self.sub_block1 = TradesStage(n, w[0], w[1], 1)
        self.block2 = TradesStage(n, w[1], w[2], 2)
        self.block3 = TradesStage(n, w[2], w[3], 2)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.fc = nn.Linear(w[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(F.avg_pool2d(F.relu(self.bn1(out)), 8).flatten(1))


def _images(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("reference", "arch", "container"), [
    (KuangliuResNet18, "resnet18", "bare"),
    (TradesWRN, "wrn34_10", "state_dict"),
])
def test_public_layouts_load_and_compute_the_same_function(tmp_path: Path, reference: type, arch: str, container: str) -> None:
    torch.manual_seed(0)
    net = reference()
    _randomize_bn(net, 1)
    net.eval()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}  # saved from DataParallel
    torch.save(state if container == "bare" else {container: state, "epoch": torch.tensor(3)}, tmp_path / "ckpt.pt")
    model = load_external(tmp_path / "ckpt.pt", arch, normalize=None)
    x = _images(1 if arch == "wrn34_10" else 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), rtol=1e-4, atol=1e-4)
    assert not model.training


def _preact_external(state: dict[str, torch.Tensor], depths: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """atlib PreActNet keys -> the robust_overfitting/AWP PreAct ResNet layout (layer<s>.<b>, shortcut.0)."""
    starts = np.cumsum((0,) + depths)
    out = {}
    for key, value in state.items():
        if key.startswith("layers."):
            _, k, rest = key.split(".", 2)
            stage = int(np.searchsorted(starts, int(k), side="right"))
            rest = rest.replace("shortcut.", "shortcut.0.")
            key = f"layer{stage}.{int(k) - starts[stage - 1]}.{rest}"
        out[key] = value
    return out


@pytest.mark.parametrize("container", ["model", "net"])
def test_preact_layout_round_trip_with_normalization(tmp_path: Path, container: str) -> None:
    original = build_model("preact_resnet18", 10, "cifar10")
    _randomize_bn(original, 2)
    original.eval()
    torch.save({container: _preact_external(original.net.state_dict(), (2, 2, 2, 2))}, tmp_path / "p.pt")
    model = load_external(tmp_path / "p.pt", "preact_resnet18", normalize=DATASET_INFO["cifar10"].normalization)
    with torch.no_grad():
        torch.testing.assert_close(model(_images()), original(_images()))


def test_atlib_checkpoints_load_and_their_normalization_is_checked(tmp_path: Path) -> None:
    original = build_model("small_cnn", 10, "cifar10").eval()
    torch.save({"model": original.state_dict(), "position": {"epoch": 1}}, tmp_path / "checkpoint.pt")
    model = load_external(tmp_path / "checkpoint.pt", "small_cnn", normalize=DATASET_INFO["cifar10"].normalization)
    with torch.no_grad():
        assert torch.equal(model(_images()), original(_images()))
    with pytest.raises(ValueError, match=r"trained with input normalization mean=\[0\.491"):
        load_external(tmp_path / "checkpoint.pt", "small_cnn", normalize=None)


def test_mismatches_name_the_keys(tmp_path: Path) -> None:
    net = KuangliuResNet18()
    torch.save(net.state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ValueError, match=r"does not fit wrn28_10 with num_classes=10: 61 missing key\(s\): "
                                         r"layers\.0\.shortcut\.weight, .*unexpected key\(s\): "
                                         r"layer2\.0\.shortcut\.1\.weight \(as layers\.4\.shortcut\.1\.weight\)"):
        load_external(tmp_path / "r18.pt", "wrn28_10")
    with pytest.raises(ValueError, match=r"shape mismatch\(es\): linear\.weight: \(10, 512\) in the file, \(100, 512\)"):
        load_external(tmp_path / "r18.pt", "resnet18", num_classes=100)
    torch.save({"args": argparse.Namespace(lr=0.1), "state_dict": net.state_dict()}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="cannot be read with weights_only=True.*re-save"):
        load_external(tmp_path / "pickled.pt", "resnet18")
    torch.save({"epoch": torch.tensor(1), "weights": net.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"holds no state_dict.*'state_dict', 'model', 'net'.*\['epoch', 'weights'\]"):
        load_external(tmp_path / "other.pt", "resnet18")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_external(tmp_path / "absent.pt", "resnet18")
    with pytest.raises(ValueError, match="unknown architecture 'resnet50'"):
        load_external(tmp_path / "r18.pt", "resnet50")
    with pytest.raises(ValueError, match="3 values each"):
        load_external(tmp_path / "r18.pt", "resnet18", normalize=((0.5,), (0.5,)))


def test_wrn34_10_is_the_papers_model() -> None:
    net = build_model("wrn34_10", 10).net
    assert sum(p.numel() for p in net.parameters()) == 46_160_474  # WRN-34-10 of TRADES/MART/AWP, without sub_block1
    assert net.depths == (5, 5, 5) and len(net.layers) == 15


# ----------------------------------------------------------------------------- checkpoint series -> run


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[nn.Module]]:
    """Three small-CNN checkpoints named by epoch 1, 2, 10 (10 sorts before 2 as text), saved by DataParallel."""
    folder = tmp_path_factory.mktemp("ckpts")
    models = []
    for seed, epoch in enumerate((1, 2, 10)):
        torch.manual_seed(seed)
        model = build_model("small_cnn", 10).eval()
        _randomize_bn(model, seed)
        torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, folder / f"epoch_{epoch}.pt")
        models.append(model)
    (folder / "notes.txt").write_text("not a checkpoint")
    return folder, models


def _test_images(root: Path) -> np.ndarray:
    """The ImageFolder's test images in load_dataset's order (class, then file name)."""
    return np.stack([np.asarray(Image.open(p)) for c in CLASSES for p in sorted((root / "test" / c).glob("*.png"))])


def _record(series_folder: Path, root: Path, out: Path, **kw):
    return record_checkpoints(str(series_folder / "epoch_*.pt"), "small_cnn", DATASET_INFO["cifar10"].normalization, "cifar10",
                              out_dir=out, data_root=str(root), n=20, eps_255=(8.0,), pgd_steps=2, batch_size=64,
                              progress=False, **kw)


def test_checkpoint_series_becomes_a_recorded_run(tiny_root: Path, series: tuple[Path, list[nn.Module]], tmp_path: Path) -> None:
    folder, models = series
    run = _record(folder, tiny_root, tmp_path)
    assert run.complete and run.config.method == "external" and run.config.model == "small_cnn"
    assert run.name == f"cifar10_small_cnn_external_{folder.name}"
    assert run.epochs.tolist() == [1.0, 2.0, 10.0]
    assert run.meta["source"]["files"] == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"]  # by epoch, not as text
    assert run.meta["inputs"] == {"data_root": str(tiny_root), "neg_path": str(tiny_root / "CIFAR10_neg.npz"),
                                  "synthetic": None, "cifar_c_root": None}  # as training records them
    assert [json.loads(line)["checkpoint"] for line in (run.path / "log.jsonl").read_text().splitlines()] == \
        ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"]
    test_images = _test_images(tiny_root)
    neg = np.load(tiny_root / "CIFAR10_neg.npz")["data"]
    for t, model in enumerate(models):
        expected = predict_proba(model, test_images, 64).numpy().astype(np.float16)
        assert np.array_equal(run.probs("test")[t], expected)
        assert np.array_equal(run.probs("neg")[t], predict_proba(model, neg, 64).numpy().astype(np.float16))
    assert run.labels("test").tolist() == [c for c in range(10) for _ in range(8)]  # tiny_root: 8 per class
    assert run.test_index().tolist() == list(range(80))
    points = run.records.points
    assert [p["checkpoint"] for p in points] == ["epoch_1.pt", "epoch_2.pt", "epoch_10.pt"]
    assert points[-1]["test_acc"] == run.metrics["clean_acc"] and run.metrics["neg_acc"] == points[-1]["neg_acc"]
    assert set(run.metrics["robust_acc"]) == {"8"} and run.metrics["robust_eval"]["n"] == 20
    # The run's own checkpoint is the last model, so `python -m atlib.evaluate RUN ...` works on it.
    with torch.no_grad():
        assert torch.equal(load_trained_model(run.path)(_images()), models[-1](_images()))
    # Every analysis reads it like a trained run.
    (group,) = group_seeds(load_runs(tmp_path))
    curves = analysis.mean_entropy_curves([group])
    assert curves["method"].unique().tolist() == ["external"] and curves["epoch"].tolist() == [1.0, 2.0, 10.0]


def test_interrupted_recording_resumes_to_the_same_records(tiny_root: Path, series: tuple[Path, list[nn.Module]],
                                                           tmp_path: Path) -> None:
    folder, _ = series
    whole = _record(folder, tiny_root, tmp_path / "a")
    partial = _record(folder, tiny_root, tmp_path / "b")
    (partial.path / "metrics.json").unlink()
    partial.records.truncate(1)  # as if killed after the first checkpoint
    resumed = _record(folder, tiny_root, tmp_path / "b")
    assert np.array_equal(resumed.probs("test"), whole.probs("test")) and resumed.num_points == 3
    assert resumed.metrics["robust_acc"] == whole.metrics["robust_acc"]
    with pytest.raises(ValueError, match="(?s)holds a recording of other settings.*robust_eval_n: stored 20, given 10"):
        record_checkpoints(str(folder / "epoch_*.pt"), "small_cnn", DATASET_INFO["cifar10"].normalization, out_dir=tmp_path / "a",
                           data_root=str(tiny_root), n=10, pgd_steps=2, progress=False)


def test_cli_adds_autoattack_to_a_finished_run(tiny_root: Path, series: tuple[Path, list[nn.Module]], tmp_path: Path) -> None:
    pytest.importorskip("pyautoattack", reason="the optional package pyautoattack is not installed")
    run = _record(series[0], tiny_root, tmp_path)
    assert evaluate_main([str(run.path), "--autoattack", "--aa-version", "custom", "--aa-attacks", "apgd-ce"]) == 0
    metrics = load_runs(tmp_path)[0].metrics
    aa, pgd = metrics["autoattack"], metrics["robust_eval"]
    assert aa["rows"] == pgd["rows"] and aa["test_index"] == pgd["test_index"] and aa["n"] == 20  # the PGD rows
    assert aa["attacks"] == ["apgd-ce"] and set(aa["robust_acc"]) == set(metrics["robust_acc"]) == {"8"}
    robust = aa["per_image"]["8"]["robust"]
    assert len(robust) == 20 and aa["robust_acc"]["8"] == pytest.approx(np.mean(robust))
    assert aa["clean_acc"] == pytest.approx(pgd["clean_acc"])
    assert not (run.path / "autoattack_state").exists()


def test_series_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint files match"):
        checkpoint_series(str(tmp_path / "*.pt"))
    (tmp_path / "final.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="final.pt has no number in its name"):
        checkpoint_series(str(tmp_path / "*.pt"))
    (tmp_path / "final.pt").unlink()
    for name in ("run1_epoch_5.pt", "run2_epoch_5.pt"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match="both give epoch 5"):
        checkpoint_series(str(tmp_path / "*.pt"))


# ----------------------------------------------------------------------------- CLI


def test_cli_evaluates_one_checkpoint_into_json(tiny_root: Path, series: tuple[Path, list[nn.Module]], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    folder, models = series
    out = tmp_path / "result.json"
    rc = evaluate_main(["--checkpoint", str(folder / "epoch_2.pt"), "--arch", "small_cnn", "--data-root", str(tiny_root),
                        "--n", "20", "--pgd-steps", "2", "--json", str(out), "--device", "cpu"])
    assert rc == 0
    result = json.loads(out.read_text())
    test_images = _test_images(tiny_root)
    labels = np.repeat(np.arange(10), 8)
    clean = float((predict_proba(models[1], test_images).argmax(1).numpy() == labels).mean())
    assert result["clean_acc"] == pytest.approx(clean)
    assert result["arch"] == "small_cnn" and result["normalize"] == [list(DATASET_INFO["cifar10"].normalization[0]), list(DATASET_INFO["cifar10"].normalization[1])]
    assert result["robust_eval"]["n"] == 20 and set(result["robust_acc"]) == {"8"} and result["neg_acc"] is not None
    assert "clean accuracy" in capsys.readouterr().out
    # This checkpoint expects CIFAR-10 normalization: --no-normalize is refused with the reason.
    assert evaluate_main(["--checkpoint", str(folder / "epoch_2.pt"), "--arch", "small_cnn", "--no-normalize",
                          "--data-root", str(tiny_root)]) == 2
    assert "trained with input normalization" in capsys.readouterr().err


def test_cli_autoattack_without_the_package_names_the_pip_command(tiny_root: Path, series: tuple[Path, list[nn.Module]],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "pyautoattack", None)  # import pyautoattack now raises ImportError
    folder, _ = series
    rc = evaluate_main(["--checkpoint", str(folder / "epoch_2.pt"), "--arch", "small_cnn", "--autoattack",
                        "--data-root", str(tiny_root)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "pyautoattack" in err and "pip install -r requirements-autoattack.txt" in err


def test_cli_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for argv in ([], ["run_a", "--checkpoint", "x.pt", "--arch", "resnet18"], ["--checkpoint", "x.pt"],
                 ["--checkpoint", "x.pt", "--arch", "resnet18", "--no-normalize", "--mean", "0", "0", "0"],
                 [str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:
            evaluate_main(argv)
        assert exc.value.code == 2
    assert "nothing to add to the runs" in capsys.readouterr().err


def test_autoattack_on_a_stored_run_falls_back_to_the_config_budgets_and_reads_its_recorded_inputs(
        tmp_path: Path, tiny_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run without PGD results attacks the config's robust_eval_eps_255 (not nothing), and finds its test images
    through the inputs it recorded, not through its config's data_root (here a folder that has moved away)."""
    import shutil

    from atlib.evaluate import external
    from atlib.store.runs import load_run

    run_dir = tmp_path / "cifar10_small_cnn_nt_s0"
    shutil.copytree(Path(__file__).parent / "legacy" / "complete" / run_dir.name, run_dir)
    edits = {"config.json": lambda c: c | {"data_root": str(tmp_path / "moved"), "neg_path": str(tmp_path / "moved.npz"),
                                            "robust_eval_eps_255": [4.0], "out_dir": str(tmp_path)},
             "meta.json": lambda m: m | {"inputs": m["inputs"] | {"cifar_root": str(tiny_root),
                                                                   "neg_path": str(tiny_root / "CIFAR10_neg.npz")}},
             "metrics.json": lambda m: {k: v for k, v in m.items() if k != "robust_eval"} | {"robust_acc": {}}}
    for name, edit in edits.items():
        (run_dir / name).write_text(json.dumps(edit(json.loads((run_dir / name).read_text()))))
    seen = {}

    def fake_autoattack(model, images, labels, eps_255, n, **options):
        seen.update(eps=list(eps_255), n=n, images=len(images))
        return {"rows": list(range(n)), "n": n, "robust_acc": {str(e): 0.0 for e in eps_255}}

    monkeypatch.setattr(external, "autoattack_evaluation", fake_autoattack)
    result = external.add_autoattack_metrics(run_dir)
    assert seen == {"eps": [4.0], "n": 20, "images": 80}  # the toy test set, found through meta.json's inputs
    assert load_run(run_dir).metrics["autoattack"]["test_index"] == result["test_index"] == list(range(20))
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps(config | {"robust_eval_n": 0}))
    with pytest.raises(ValueError, match="made no PGD evaluation.*give n"):
        external.add_autoattack_metrics(run_dir)
