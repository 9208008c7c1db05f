"""CIFAR-C evaluation: per-severity accuracy, both conventions' means, released vs generated files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from atlib.datasets import CIFAR_C_COMMON, CIFAR_C_CORRUPTIONS
from atlib.evaluate import add_cifar_c_metrics, cifar_c_source, evaluate_corruptions

N = 20  # images per severity block


class PixelOracle(torch.nn.Module):
    """Predicts the class written into the first pixel (value = 10 * class), so accuracy is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = torch.round(x[:, 0, 0, 0] * 255 / 10).long().clamp(0, 9)
        return torch.nn.functional.one_hot(cls, 10).float()


def write_cifar_c(folder: Path, corruptions: tuple[str, ...], wrong_per_severity: dict[str, list[int]]) -> None:
    """Released layout; in severity s of corruption c, the first wrong[c][s-1] images encode a wrong class."""
    folder.mkdir(parents=True)
    labels = np.arange(N) % 10
    np.save(folder / "labels.npy", np.tile(labels, 5))
    for c in corruptions:
        images = np.zeros((5 * N, 32, 32, 3), dtype=np.uint8)
        for s in range(5):
            shown = labels.copy()
            wrong = wrong_per_severity.get(c, [0] * 5)[s]
            shown[:wrong] = (shown[:wrong] + 1) % 10
            images[s * N : (s + 1) * N, 0, 0, 0] = shown * 10
        np.save(folder / f"{c}.npy", images)


def test_accuracy_per_severity_and_both_means(tmp_path: Path) -> None:
    wrong = {"gaussian_noise": [0, 2, 4, 6, 8], "saturate": [10, 10, 10, 10, 10]}
    write_cifar_c(tmp_path / "CIFAR-10-C", CIFAR_C_CORRUPTIONS, wrong)
    result = evaluate_corruptions(PixelOracle(), "cifar10", tmp_path, batch_size=7, progress=False)
    assert result["source"]["kind"] == "released" and result["missing"] == []
    assert result["accuracy"]["gaussian_noise"] == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    assert result["pooled"]["gaussian_noise"] == pytest.approx(0.8)
    assert result["pooled"]["saturate"] == pytest.approx(0.5)
    assert result["seed_paper_mean"] == pytest.approx((17 + 0.8 + 0.5) / 19)  # all 19, severities pooled
    assert result["robustbench_mean"] == pytest.approx((14 + 0.8) / 15)  # 15 common; saturate is not one
    assert "saturate" not in CIFAR_C_COMMON


def test_missing_corruptions_leave_means_undefined(tmp_path: Path) -> None:
    write_cifar_c(tmp_path / "gen", ("contrast", "fog"), {})
    (tmp_path / "gen" / "generation.json").write_text(json.dumps({"seed": 0}))
    result = evaluate_corruptions(PixelOracle(), "cifar10", tmp_path / "gen", progress=False)
    assert result["source"]["kind"] == "generated" and result["source"]["generation"] == {"seed": 0}
    assert set(result["pooled"]) == {"contrast", "fog"} and len(result["missing"]) == 17
    assert result["seed_paper_mean"] is None and result["robustbench_mean"] is None


def test_no_cifar_c_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="atlib.corruptions"):
        cifar_c_source("cifar10", tmp_path)


def test_unfinished_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match="has not finished"):
        add_cifar_c_metrics(tmp_path / "run", tmp_path)
