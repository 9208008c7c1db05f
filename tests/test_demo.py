"""``python -m atlib demo``: the demo is its grid (grids/demo.yaml) run as a sweep, then rendered and reported.

The fast tests check the grids, the cheap checks that precede any work, and the demo's steps over fake runs
(tests/fakeruns.py). The slow one runs the quick grid at smoke size on real CIFAR-10 images, built from the
shared data's exact official test images (official-extracts/) as a small ImageFolder, so it needs no
60,000-image archive decode: every step runs, and a re-run redoes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from atlib.config import PRESETS, TrainConfig
from atlib.datasets import DATASET_INFO
from atlib.demo import DemoSettings, demo_grid, format_summary, run_demo, settings_from_args, wilson_interval
from atlib.notebooks import REPO_ROOT, repo_relative, report_notebooks
from atlib.store.runs import load_run
from atlib.sweep import expand, load_grid
from fakeruns import make_run, random_probs

REPO = Path(__file__).resolve().parents[1]
TRAIN_ROWS = 700  # of the 1,017 official test images: the first 700 play the training set, the rest the test set


# ----------------------------------------------------------------------------- the grids


def test_the_demo_and_its_presets_are_grids() -> None:
    configs = expand(demo_grid(DemoSettings()), "/x/runs")
    kinds = [(c.method, c.epsilon_255, c.uses_synthetic, c.seed) for c in configs]
    assert kinds == [("nt", 0, False, 0), ("nt", 0, False, 1), ("nt", 0, False, 2), ("at", 2, False, 0),
                     ("at", 2, False, 1), ("at", 2, False, 2), ("at", 8, False, 0), ("at", 8, False, 1),
                     ("at", 8, False, 2), ("nt", 0, True, 0), ("at", 8, True, 0)]
    assert all(c.model == "small_cnn" and c.train_subset == PRESETS["demo"]["train_subset"] and not c.progress for c in configs)
    standin = Path("/x/data/standin_cifar10_5000_outside_first_1000.npz")  # the demo's stand-in, where it always was
    assert {(c.synthetic, c.synthetic_tag) for c in configs if c.uses_synthetic} == {(str(standin), "standin")}
    assert {c.cifar_c_root for c in configs} == {"/x/CIFAR-10-C-generated-250"}  # every run is evaluated on it
    quick, study = (expand(demo_grid(DemoSettings(grid=g)), "/x/runs") for g in ("quick", "study"))
    assert [c.run_name for c in quick] == ["cifar10_small_cnn_nt_s0", "cifar10_small_cnn_at8_s0",
                                           "cifar10_small_cnn_nt_standin0.5_s0", "cifar10_small_cnn_at8_standin0.5_s0"]
    assert all(c.epochs == PRESETS["quick"]["epochs"] for c in quick)
    assert {c.seed for c in study} == {0, 1, 2} and len(study) == 9 and not any(c.uses_synthetic for c in study)
    assert all(c.train_subset == PRESETS["study"]["train_subset"] for c in study)


def test_settings_fix_fields_of_every_run_but_not_the_varied_ones(tmp_path: Path) -> None:
    parsed = settings_from_args(["--quick", "--set", "epochs", "3", "--notebooks", "--data-root", str(tmp_path)])
    assert parsed.grid == "quick" and parsed.notebooks == () and parsed.out is None
    configs = expand(demo_grid(parsed), tmp_path / "runs")
    assert {(c.epochs, c.data_root, c.device) for c in configs} == {(3, str(tmp_path), "auto")}  # --set on top of the preset
    assert settings_from_args(["--study"]).grid == "study" and settings_from_args([]).notebooks is None
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['epoch'\] in --set"):
        demo_grid(settings_from_args(["--set", "epoch", "3"]))
    with pytest.raises(ValueError, match=r"--set.epochs: expected int, got str 'three'"):
        demo_grid(settings_from_args(["--set", "epochs", "three"]))
    with pytest.raises(ValueError, match=r"--set seed: the grid 'demo' varies it; copy .*demo.yaml"):
        demo_grid(settings_from_args(["--set", "seed", "3"]))
    with pytest.raises(FileNotFoundError, match="not a built-in grid"):
        demo_grid(settings_from_args(["--grid", "paper-typo"]))


# ----------------------------------------------------------------------------- cheap checks come first


def test_cheap_checks_fail_before_any_work_and_keep_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / "summary.md").parent.mkdir()
    (out / "summary.md").write_text("the last summary")
    with pytest.raises(ValueError, match=r"unknown notebook\(s\) \['nosuch'\] for --notebooks; choose among 01_entropy"):
        run_demo(DemoSettings(grid="quick", out=out, notebooks=("nosuch",)), echo=lambda _: None)
    # a run folder holding another config: refused with what differs, before any input is made
    grid = load_grid("quick")
    stored = expand(grid, out / "runs")[1].replace(lr=0.5)
    make_run(out / "runs", stored, random_probs(np.random.default_rng(0), 2, 4, 10), np.arange(4) % 10)
    with pytest.raises(ValueError, match=r"cifar10_small_cnn_at8_s0: lr: stored 0.5, grid 0.1"):
        run_demo(DemoSettings(grid="quick", out=out), echo=lambda _: None)
    assert sorted(p.name for p in out.iterdir()) == ["runs", "summary.md"]  # nothing prepared, launched or rendered
    assert (out / "summary.md").read_text() == "the last summary"


def test_cli_refuses_an_unknown_notebook_at_once() -> None:
    result = subprocess.run([sys.executable, "-m", "atlib", "demo", "--notebooks", "nosuch", "--out", "/nonexistent/x"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown notebook(s) ['nosuch']" in result.stderr and "[demo]" not in result.stdout


# ----------------------------------------------------------------------------- the demo's steps over finished runs


def test_finished_runs_are_reported_with_what_to_open_first(tmp_path: Path) -> None:
    """A grid whose runs are all finished: nothing is trained, the claims and the summary are written."""
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({"preset": "quick", "product": {"method": ["nt", "at"], "seed": [0, 1]}}))
    out, rng = tmp_path / "demo", np.random.default_rng(0)
    labels = np.arange(40) % 10
    for k, config in enumerate(expand(load_grid(grid), out / "runs")):
        make_run(out / "runs", config, random_probs(rng, 2, 40, 10), labels,
                 metrics={"clean_acc": 0.5 + k / 100, "neg_acc": None, "robust_acc": {"8": 0.2},
                          "robust_eval": {"n": 50}})
    messages: list[str] = []
    summary = run_demo(DemoSettings(grid=str(grid), out=out, notebooks=()), echo=messages.append)
    assert messages[0].startswith("[demo] grid g (") and "4 runs in" in messages[0] and "done 4" in messages[0]
    assert not any("training" in m for m in messages) and not (out / "sweep.json").exists()  # nothing launched
    assert [r["clean_acc"] for r in summary["runs"]] == [0.5, 0.51, 0.52, 0.53]
    robust = summary["runs"][0]["robust_acc"]["8"]
    assert robust["n"] == 50 and robust["interval"] == pytest.approx(list(wilson_interval(0.2, 50)))
    text = (out / "summary.md").read_text()
    assert text == format_summary(summary)
    assert text.index("## Open these") < text.index("## Runs") < text.index("## Do these runs reproduce the paper?")
    assert f"- `{repo_relative(out / 'summary.md')}`: this summary" in text
    assert summary["synthetic"] is None and summary["cifar_c"] is None and "- CIFAR-10-C: none" in text


def test_summary_paths_are_relative_to_the_repository(tmp_path: Path) -> None:
    assert repo_relative(REPO_ROOT / "outputs" / "demo" / "runs") == "outputs/demo/runs"
    assert repo_relative(tmp_path / "x") == str((tmp_path / "x").resolve())  # outside the repository: absolute
    low, high = wilson_interval(0.2, 500)
    assert 0.1672 < low < 0.1673 and 0.2372 < high < 0.2373  # known values of the 95% Wilson interval
    assert wilson_interval(0.0, 50)[0] == 0.0 and wilson_interval(1.0, 50)[1] == 1.0


def test_cli_dispatches_subcommands() -> None:
    result = subprocess.run([sys.executable, "-m", "atlib"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "demo" in result.stdout and "sweep" in result.stdout
    result = subprocess.run([sys.executable, "-m", "atlib", "demo", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "--quick" in result.stdout and "python -m atlib.sweep --grid paper" in result.stdout
    result = subprocess.run([sys.executable, "-m", "atlib", "nope"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown command 'nope'" in result.stderr


# ----------------------------------------------------------------------------- the quick grid, trained


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
            folder = root / split / DATASET_INFO["cifar10"].classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{k:04d}.png")
    os.symlink(shared_data / "CIFAR10_neg.npz", root / "CIFAR10_neg.npz")
    return root


@pytest.mark.slow
def test_quick_demo_runs_everything_and_a_rerun_redoes_nothing(small_cifar: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the launcher's jobs import this atlib
    settings = DemoSettings(grid="quick", out=tmp_path / "demo", data_root=str(small_cifar), notebooks=("04_synthesized_data",),
                            jobs=2)
    messages: list[str] = []
    summary = run_demo(settings, echo=messages.append)

    # NT, AT ε=8, and both again with the stand-in: one seed each at quick size
    names = [r["name"] for r in summary["runs"]]
    assert names == ["cifar10_small_cnn_nt_s0", "cifar10_small_cnn_at8_s0",
                     "cifar10_small_cnn_nt_standin0.5_s0", "cifar10_small_cnn_at8_standin0.5_s0"]
    assert [r["label"] for r in summary["runs"]] == ["NT", "AT ε=8/255", "NT + standin", "AT ε=8/255 + standin"]
    for r in summary["runs"]:
        metrics = json.loads((REPO_ROOT / r["path"] / "metrics.json").read_text())  # an absolute path stays itself
        assert metrics["cifar_c"]["source"]["kind"] == "generated"
        assert metrics["cifar_c"]["missing"] == [] and metrics["cifar_c"]["seed_paper_mean"] == r["cifar_c"]
        assert metrics["neg_acc"] is not None and set(metrics["robust_acc"]) == {"8"}
        assert 0 <= r["clean_acc"] <= 1
        assert load_run(REPO_ROOT / r["path"]).plan == {"grid": "quick", "seeds": [0]}  # what the grid promised it
        robust = r["robust_acc"]["8"]  # with the number of attacked images and its 95% interval
        assert robust["acc"] == metrics["robust_acc"]["8"] and robust["n"] == 50
        assert robust["interval"] == pytest.approx(list(wilson_interval(robust["acc"], 50)))

    # progress: one line per finished epoch of every run (2 epochs each), with the launch's ETA; no bars
    epoch_lines = [m for m in messages if re.search(r"epoch \d/2  test acc \d+\.\d%", m)]
    assert sorted(re.search(r"\] (\S+)  epoch (\d)", m).groups() for m in epoch_lines) == sorted(
        (n, e) for n in names for e in "12")
    assert all("runs done, ETA" in m for m in epoch_lines) and not any("\r" in m for m in messages)
    assert any("not encrypted" in m or "without encryption" in m for m in messages)  # said once, when rendering

    # the stand-in: real training images outside the training subset, in the generated-data format
    standin = tmp_path / "demo" / "data" / "standin_cifar10_200_outside_first_200.npz"
    assert "standin" in summary["synthetic"]["kind"] and any("STAND-IN" in m for m in messages)
    with np.load(standin) as npz:
        assert npz["image"].shape == (200, 32, 32, 3) and npz["image"].dtype == np.uint8
        assert npz["label"].dtype == np.int64 and np.bincount(npz["label"]).tolist() == [20] * 10
        standin_images = npz["image"]
    from atlib.data import load_dataset
    from atlib.subsets import balanced_subset

    train = load_dataset("cifar10", "train", small_cifar)
    used = {image.tobytes() for image in train.images[balanced_subset(train.labels, 200)]}
    assert not used & {image.tobytes() for image in standin_images}  # disjoint from the training subset

    # CIFAR-10-C generated from the test subset; the notebook rendered; the summary says it all
    cifar_c = tmp_path / "demo" / "CIFAR-10-C-generated-10"
    assert summary["cifar_c"]["kind"] == "generated" and len(list(cifar_c.glob("*.npy"))) == 20  # 19 + labels
    executed = tmp_path / "demo" / "notebooks" / "04_synthesized_data.ipynb"
    assert summary["notebooks"]["04_synthesized_data"] == repo_relative(executed)
    figures = {Path(f).name for f in summary["figures"]}
    assert {"fig5_cifar_c_seed_paper.png", "fig5_cifar_c_seed_paper.html", "fig7_cifar10_c_per_corruption.png"} <= figures
    text = (tmp_path / "demo" / "summary.md").read_text()
    assert text == format_summary(summary) and "| cifar10_small_cnn_at8_standin0.5_s0 | AT ε=8/255 + standin |" in text
    assert "CIFAR-10-C: generated" in text and "Total time:" in text and text.index("## Open these") < text.index("## Runs")
    # the claims table closes the summary: one seed answers no claim, and says so
    assert [c["id"] for c in summary["claims"]["claims"]] == ["1a", "1b", "2", "3a", "3b", "3c", "4a", "4b", "5a", "5b", "6a", "6b"]
    assert {c["verdict"] for c in summary["claims"]["claims"]} == {"cannot tell"}
    assert "## Do these runs reproduce the paper?" in text and summary["claims_table"] in text

    # a re-run trains nothing, generates no corruption, evaluates nothing (small bookkeeping files aside)
    bookkeeping = {"config.json", "generation.json", "labels.npy", "summary.json", "summary.md", "sweep.json"}
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").rglob("*")
              if p.is_file() and p.name not in bookkeeping and not {"notebooks", "figures", "logs"} & set(p.parts)}
    assert sum(p.name == "metrics.json" for p in stamps) == 4 and sum(p.suffix == ".npy" for p in stamps) > 19
    again = run_demo(dataclasses.replace(settings, notebooks=(), jobs=1), echo=lambda _: None)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert [r["clean_acc"] for r in again["runs"]] == [r["clean_acc"] for r in summary["runs"]]
    # a changed setting is not silently answered with runs trained otherwise
    changed = dataclasses.replace(settings, notebooks=(), jobs=1, overrides={"epochs": 3})
    with pytest.raises(ValueError, match="different config(.|\n)*epochs"):
        run_demo(changed, echo=lambda _: None)


def test_report_notebooks_are_every_notebook_that_reads_runs() -> None:
    names = report_notebooks()
    assert "07_training_dynamics" in names and "06_claims" in names and "00_train" not in names
    assert names == sorted(names)
