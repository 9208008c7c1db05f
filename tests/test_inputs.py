"""Inputs are resolved once when a run starts and recorded in its meta.json: analysis finds a run's images
from any process, and a synthesized set is identified by its content, not its path."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from atlib.data.sources import SHARED_DATA, candidate_roots, content_hash
from tinydata import tiny_config


def test_one_search_rule_ends_with_the_shared_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    roots = candidate_roots(tmp_path / "explicit")
    assert [r.path for r in roots] == [tmp_path / "explicit", tmp_path / "env", tmp_path / "data", SHARED_DATA]
    assert [r.origin for r in roots][-1] == "../shared/data beside the repository"


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
    assert run.meta["inputs"] == {"cifar_root": str(tiny_root.resolve()), "neg_path": str((tiny_root / "CIFAR10_neg.npz").resolve()),
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
