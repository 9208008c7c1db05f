"""The GPU acceptance check runs end to end in its CPU-sized mode, so it is ready when a GPU is lent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinydata import REPO

sys.path.insert(0, str(REPO / "benchmarks"))


@pytest.mark.slow
def test_gpu_check_runs_its_cpu_sized_mode(tiny_root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import gpu_check

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "check.json"
    code = gpu_check.main(["--device", "cpu", "--data", str(tiny_root), "--model", "small_cnn", "--batch-size", "32",
                           "--steps", "2", "--warmup", "1", "--train-size", "160", "--test-size", "40", "--share", "1", "2",
                           "--no-compile", "--fp32", "--out", str(out)])
    results = json.loads(out.read_text())
    assert code == 0 and results["kill_resume"]["ok"] and results["kill_resume"]["resumed"] == 1
    for key in ("nt_img_s", "at_img_s", "reference_at_img_s", "speedup_vs_reference", "record_pct_of_at_epoch"):
        assert results[key] > 0
    assert results["nt_img_s"] > results["at_img_s"]  # PGD-10 costs about ten forward-backward passes
    assert set(results["shared_device_at_img_s"]) == {"1", "2"} and results["record_sets"] == ["neg", "test"]
    assert 0 < results["bf16_vs_fp32_record_max_abs_diff"] < 0.2
    table = capsys.readouterr().out
    assert "AT img/s (PGD-10)" in table and "target" in table and "SIGKILL mid-epoch + resume: ok" in table
