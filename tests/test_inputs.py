"""Inputs are resolved once when a run starts and recorded in its meta.json: analysis finds a run's images
from any process, and a synthesized set is identified by its content, not its path."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from atlib.data.npzmap import content_hash
from atlib.data.sources import candidate_roots
from tinydata import REPO, tiny_config


def test_the_search_rule_is_an_explicit_root_alone_else_env_then_dot_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    assert [r.path for r in candidate_roots(tmp_path / "explicit")] == [tmp_path / "explicit"]
    assert [(r.path, r.origin) for r in candidate_roots(None)] == [(tmp_path / "env", "$ATLIB_DATA"), (tmp_path / "data", "./data")]
    monkeypatch.delenv("ATLIB_DATA")
    assert [r.path for r in candidate_roots(None)] == [tmp_path / "data"]


def test_the_library_knows_no_development_folder() -> None:
    """The development layout (../shared/data beside the repository) comes from the Makefile, not from atlib."""
    sources = [p for p in (REPO / "atlib").rglob("*.py")]
    assert sources
    for path in sources:
        text = path.read_text()
        assert "SHARED_DATA" not in text and "shared/data" not in text and '"shared" / "data"' not in text, path
    makefile = (REPO / "Makefile").read_text()
    assert "ifneq ($(wildcard ../shared/data),)" in makefile and "export ATLIB_DATA ?= $(abspath ../shared/data)" in makefile


def test_the_makefile_supplies_the_development_folder_only_when_it_exists(tmp_path: Path) -> None:
    """`make` from a fresh clone finds ../shared/data with no variable set; an explicit $ATLIB_DATA wins."""
    clone = tmp_path / "repo"
    clone.mkdir()
    (clone / "Makefile").write_text((REPO / "Makefile").read_text() + "\nshow-data:\n\t@echo \"data=$$ATLIB_DATA\"\n")
    env = {k: v for k, v in os.environ.items() if k != "ATLIB_DATA"}

    def make(**extra: str) -> str:
        done = subprocess.run(["make", "-s", "-C", str(clone), "show-data"], env={**env, **extra},
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert make() == "data="
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert make() == f"data={tmp_path / 'shared' / 'data'}"
    assert make(ATLIB_DATA="/elsewhere") == "data=/elsewhere"


@pytest.mark.slow
def test_a_run_trained_with_atlib_data_is_analysed_without_it(tiny_root: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """As a new user: runs trained with $ATLIB_DATA set in the shell, the explorer opened in a JupyterLab
    started without it, elsewhere."""
    from atlib import analysis
    from atlib.store.runs import load_run
    from atlib.train import train

    monkeypatch.setenv("ATLIB_DATA", str(tiny_root))
    config = tiny_config(tiny_root, tmp_path / "runs", epochs=1, data_root=None, neg_path=None)
    run = train(config)
    assert run.meta["inputs"] == {"data_root": str(tiny_root.resolve()), "neg_path": str((tiny_root / "CIFAR10_neg.npz").resolve()),
                                  "synthetic": None, "cifar_c_root": None}
    monkeypatch.delenv("ATLIB_DATA")
    monkeypatch.chdir(tmp_path)
    run = load_run(run.path)
    images = analysis.eval_images(run, "test")
    assert images.shape == (80, 32, 32, 3) and analysis.eval_images(run, "neg").shape == (20, 32, 32, 3)


@pytest.mark.slow
def test_a_moved_synthetic_file_resumes_and_a_changed_one_is_refused(tiny_root: Path, tmp_path: Path) -> None:
    from atlib.train import train

    rng = np.random.default_rng(0)
    synthetic = tmp_path / "a" / "synth.npz"
    synthetic.parent.mkdir()
    np.savez(synthetic, image=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), label=np.arange(64) % 10)
    first = tiny_config(tiny_root, tmp_path / "runs", epochs=2, synthetic=str(synthetic), synthetic_fraction=0.25)
    run = train(first)
    assert run.meta["inputs"]["synthetic"] == {"path": str(synthetic), "sha256": content_hash(synthetic)}
    # The repository moved: same content, new path. The stored run is not retrained and not refused.
    moved = tmp_path / "b" / "synth.npz"
    moved.parent.mkdir()
    shutil.copy(synthetic, moved)
    (run.path / "metrics.json").unlink()  # as if killed before its end: it resumes
    resumed = train(first.replace(synthetic=str(moved)))
    assert resumed.complete and resumed.meta["inputs"]["synthetic"]["path"] == str(moved)
    # Other content under the same name: refused, naming both files.
    np.savez(moved, image=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), label=np.arange(64) % 10)
    (run.path / "metrics.json").unlink()
    with pytest.raises(ValueError, match="synthetic data file differs"):
        train(first.replace(synthetic=str(moved)))


def test_a_damaged_uncompressed_synthetic_file_is_refused_before_training(tiny_root: Path, tmp_path: Path) -> None:
    """A flipped byte in an np.savez file: the memory map would train on it; the first full read (its hash) refuses it."""
    from atlib.train import train

    synthetic = tmp_path / "synth.npz"
    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    np.savez(synthetic, image=images, label=np.arange(64) % 10)
    damaged = bytearray(synthetic.read_bytes())
    damaged[bytes(damaged).index(images.tobytes()[:64]) + 5000] ^= 0x01
    synthetic.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"synth.npz: image.npy fails its zip CRC check"):
        train(tiny_config(tiny_root, tmp_path / "runs", epochs=1, synthetic=str(synthetic), synthetic_fraction=0.25))
