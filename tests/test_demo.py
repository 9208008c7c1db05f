"""``python -m atlib demo`` at smoke size on real CIFAR-10 images: every step runs, and a re-run redoes nothing.

The data set is built from the shared data's exact official test images (official-extracts/) as a
small ImageFolder, so the test needs no 60,000-image archive decode.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from atlib.data.constants import CLASS_NAMES
from atlib.config import PRESETS
from atlib.demo import (
    DemoSettings, base_config, demo_configs, format_summary, relative, run_demo, settings_from_args,
    wilson_interval,
)
from atlib.notebooks import REPO_ROOT

REPO = Path(__file__).resolve().parents[1]
TRAIN_ROWS = 700  # of the 1,017 official test images: the first 700 play the training set, the rest the test set


@pytest.fixture(scope="module")
def small_cifar(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CIFAR-10 ImageFolder of real images (from the exact official extract) with the real CIFAR-10-NEG beside it."""
    extract = shared_data / "official-extracts" / "cifar10_test_official_first1017.npz"
    if not extract.is_file():
        pytest.skip(f"{extract} not found")
    root = tmp_path_factory.mktemp("small_cifar")
    with np.load(extract) as npz:
        images, labels = npz["data"], npz["labels"]
    for split, rows in (("train", slice(0, TRAIN_ROWS)), ("test", slice(TRAIN_ROWS, None))):
        for k, (image, label) in enumerate(zip(images[rows], labels[rows])):
            folder = root / split / CLASS_NAMES["cifar10"][label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{k:04d}.png")
    os.symlink(shared_data / "CIFAR10_neg.npz", root / "CIFAR10_neg.npz")
    return root


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: on a CPU shared with other jobs, two threads mostly wait for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_quick_demo_runs_everything_and_a_rerun_redoes_nothing(small_cifar: Path, tmp_path: Path, one_thread: None) -> None:
    settings = DemoSettings(preset="quick", out=tmp_path / "demo", data_root=str(small_cifar), notebooks=("04_synthesized_data",),
                            jobs=2)
    messages: list[str] = []
    summary = run_demo(settings, echo=messages.append)

    # NT, AT ε=8, and both again with the stand-in: one seed each at quick size
    names = [r["name"] for r in summary["runs"]]
    assert names == ["cifar10_small_cnn_nt_s0", "cifar10_small_cnn_at8_s0",
                     "cifar10_small_cnn_nt_standin0.5_s0", "cifar10_small_cnn_at8_standin0.5_s0"]
    assert [r["label"] for r in summary["runs"]] == ["NT", "AT ε=8/255", "NT + standin", "AT ε=8/255 + standin"]
    for r in summary["runs"]:
        metrics = json.loads((Path(r["path"]) / "metrics.json").read_text())
        assert metrics["cifar_c"]["source"]["kind"] == "generated"
        assert metrics["cifar_c"]["missing"] == [] and metrics["cifar_c"]["seed_paper_mean"] == r["cifar_c"]
        assert metrics["neg_acc"] is not None and set(metrics["robust_acc"]) == {"8"}
        assert 0 <= r["clean_acc"] <= 1
        robust = r["robust_acc"]["8"]  # with the number of attacked images and its 95% interval
        assert robust["acc"] == metrics["robust_acc"]["8"] and robust["n"] == 50
        assert robust["interval"] == pytest.approx(list(wilson_interval(robust["acc"], 50)))

    # the stand-in: real training images outside the training subset, in the generated-data format
    standin = Path(summary["synthetic"]["path"])
    assert "standin" in summary["synthetic"]["kind"] and any("STAND-IN" in m for m in messages)
    with np.load(standin) as npz:
        assert npz["image"].shape == (200, 32, 32, 3) and npz["image"].dtype == np.uint8
        assert npz["label"].dtype == np.int64 and np.bincount(npz["label"]).tolist() == [20] * 10
        standin_images = npz["image"]
    from atlib.data import load_cifar
    from atlib.subsets import balanced_subset

    train = load_cifar("cifar10", "train", small_cifar)
    used = {image.tobytes() for image in train.images[balanced_subset(train.labels, 200)]}
    assert not used & {image.tobytes() for image in standin_images}  # disjoint from the training subset

    # CIFAR-10-C generated from the test subset; the notebook rendered; the summary says it all
    cifar_c = Path(summary["cifar_c"]["root"])
    assert summary["cifar_c"]["kind"] == "generated" and len(list(cifar_c.glob("*.npy"))) == 20  # 19 + labels
    executed = tmp_path / "demo" / "notebooks" / "04_synthesized_data.ipynb"
    assert summary["notebooks"]["04_synthesized_data"] == str(executed.resolve())
    figures = {Path(f).name for f in summary["figures"]}
    assert {"fig5_cifar_c_seed_paper.png", "fig5_cifar_c_seed_paper.html", "fig7_cifar10_c_per_corruption.png"} <= figures
    text = (tmp_path / "demo" / "summary.md").read_text()
    assert text == format_summary(summary) and "| cifar10_small_cnn_at8_standin0.5_s0 | AT ε=8/255 + standin |" in text
    assert "CIFAR-10-C: generated" in text and "Total time:" in text
    # the claims table closes the summary: one seed answers no claim, and says so
    assert [c["id"] for c in summary["claims"]["claims"]] == ["1a", "1b", "2", "3a", "3b", "3c", "4a", "4b", "5a", "5b", "6a", "6b"]
    assert {c["verdict"] for c in summary["claims"]["claims"]} == {"cannot tell"}
    assert "## Do these runs reproduce the paper?" in text and summary["claims_table"] in text

    # a re-run trains nothing, generates no corruption, evaluates nothing (small bookkeeping files aside)
    bookkeeping = {"config.json", "generation.json", "labels.npy", "summary.json", "summary.md"}
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").rglob("*")
              if p.is_file() and p.name not in bookkeeping and not {"notebooks", "figures"} & set(p.parts)}
    assert sum(p.name == "metrics.json" for p in stamps) == 4 and sum(p.suffix == ".npy" for p in stamps) > 19
    again = run_demo(dataclasses.replace(settings, notebooks=(), jobs=1), echo=lambda _: None)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert [r["clean_acc"] for r in again["runs"]] == [r["clean_acc"] for r in summary["runs"]]
    # a changed setting is not silently answered with runs trained otherwise
    changed = dataclasses.replace(settings, notebooks=(), jobs=1, overrides={**settings.overrides, "epochs": 3})
    with pytest.raises(ValueError, match="different config(.|\n)*epochs"):
        run_demo(changed, echo=lambda _: None)


def test_default_demo_grid_and_settings() -> None:
    settings = DemoSettings()
    base = base_config(settings)
    configs = demo_configs(settings, base, Path("/x/standin.npz"))
    kinds = [(c.method, c.epsilon_255, c.uses_synthetic, c.seed) for c in configs]
    assert kinds == [("nt", 0, False, 0), ("nt", 0, False, 1), ("at", 2, False, 0), ("at", 2, False, 1),
                     ("at", 8, False, 0), ("at", 8, False, 1), ("nt", 0, True, 0), ("at", 8, True, 0)]
    assert all(c.synthetic_tag == "standin" for c in configs if c.uses_synthetic)
    assert base.model == "small_cnn" and base.train_subset == PRESETS["demo"]["train_subset"]
    assert Path(base.out_dir) == Path("outputs/demo/runs").resolve()  # outputs/<preset>, absolute for worker processes
    parsed = settings_from_args(["--quick", "--seeds", "3", "4", "--set", "epochs", "3", "--notebooks"])
    assert parsed.preset == "quick" and parsed.seeds == (3, 4) and parsed.notebooks == () and parsed.out == Path("outputs/quick")
    quick = base_config(parsed)
    assert quick.epochs == 3 and quick.train_subset == PRESETS["quick"]["train_subset"]  # --quick sizes, --set on top
    study = settings_from_args(["--study"])
    assert study.preset == "study" and study.seeds == (0, 1, 2) and base_config(study).train_subset == PRESETS["study"]["train_subset"]
    with pytest.raises(ValueError, match=r"unknown.*'epoch'"):
        settings_from_args(["--set", "epoch", "3"])
    with pytest.raises(ValueError, match="epochs: expected int"):
        settings_from_args(["--set", "epochs", "three"])
    with pytest.raises(ValueError, match="unknown demo preset"):
        DemoSettings(preset="paper")  # a training preset without a demo plan


def test_summary_paths_are_relative_to_the_repository(tmp_path: Path) -> None:
    assert relative(REPO_ROOT / "outputs" / "demo" / "runs") == "outputs/demo/runs"
    assert relative(tmp_path / "x") == str((tmp_path / "x").resolve())  # outside the repository: absolute
    low, high = wilson_interval(0.2, 500)
    assert 0.1672 < low < 0.1673 and 0.2372 < high < 0.2373  # known values of the 95% Wilson interval
    assert wilson_interval(0.0, 50)[0] == 0.0 and wilson_interval(1.0, 50)[1] == 1.0


def test_demo_data_follows_the_one_search_rule(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                no_shared_data: None) -> None:
    monkeypatch.chdir(tmp_path)  # no ./data here
    monkeypatch.setenv("ATLIB_DATA", str(tiny_root))
    settings = DemoSettings(out=tmp_path / "demo")
    base = base_config(settings)
    assert (base.data_root, base.neg_path) == (str(tiny_root), str(tiny_root / "CIFAR10_neg.npz"))
    # An explicit folder is searched first; one without the data (or absent) does not stop the search.
    empty = tmp_path / "empty"
    empty.mkdir()
    for explicit in (empty, tmp_path / "absent"):
        assert base_config(dataclasses.replace(settings, data_root=str(explicit))).data_root == str(tiny_root)
    monkeypatch.delenv("ATLIB_DATA")
    lost = base_config(settings)  # found nowhere: training will say where it looked
    assert (lost.data_root, lost.neg_path) == (None, None)


def test_cli_dispatches_subcommands() -> None:
    result = subprocess.run([sys.executable, "-m", "atlib"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "demo" in result.stdout and "sweep" in result.stdout
    result = subprocess.run([sys.executable, "-m", "atlib", "demo", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "--quick" in result.stdout and "python -m atlib.sweep --grid paper" in result.stdout
    result = subprocess.run([sys.executable, "-m", "atlib", "nope"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown command 'nope'" in result.stderr
