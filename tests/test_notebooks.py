"""The paper's notebooks execute under papermill (through atlib.notebooks.run_notebook) on small runs.

Analysis notebooks read fake runs (tests/fakeruns.py: known records, no training) over a tiny
ImageFolder whose images the gallery shows; some runs lack CIFAR-C, robust accuracy or NEG
records, so the notebooks' "missing" paths run too. 00_train trains a tiny real run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
from nbformat.sign import NotebookNotary
import numpy as np
import pytest
from PIL import Image

from atlib.config import TrainConfig
from atlib.datasets import CIFAR_C_CORRUPTIONS, DATASET_INFO
from atlib.notebooks import (
    NotebookError, available_notebooks, load_notebook, notebook_parameters, parse_value, resolve_notebook, run_notebook,
)
from fakeruns import make_dynamics, make_run, random_probs

REPO = Path(__file__).resolve().parents[1]
PER_CLASS = 4  # test images per class in the tiny data set
ANALYSIS_FIGURES = {
    "01_entropy": ["fig1a_entropy_distribution", "fig1b_mean_entropy"],
    "02_point_categories": ["fig2_categories_nt", "fig3_categories_vs_epsilon", "threshold_sweep", "fig6_learning_profiles"],
    "03_cifar10_neg": ["fig4_cifar10_neg_accuracy", "test_vs_neg_accuracy"],
    "04_synthesized_data": ["fig5_cifar_c_seed_paper", "fig5_cifar_c_robustbench", "fig7_cifar10_c_per_corruption",
                            "robust_accuracy_vs_epsilon"],
    "06_claims": ["claims", "claims_thresholds"],
    "07_training_dynamics": ["forgetting_histogram", "forgetting_vs_epsilon", "data_maps", "aum_distribution",
                             "el2n_distribution", "probe_categories_vs_forgetting", "probe_rank_correlations"],
}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CIFAR-10 ImageFolder of learnable toy images (class = bright column) plus a NEG file."""
    root = tmp_path_factory.mktemp("tiny_cifar")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 16), ("test", PER_CLASS)):
        for c, name in enumerate(DATASET_INFO["cifar10"].classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 120, size=(32, 32, 3), dtype=np.uint8)
                img[:, 3 * c : 3 * c + 3, :] = 255
                Image.fromarray(img).save(folder / f"{i:04d}.png")
    np.savez(root / "CIFAR10_neg.npz", data=rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(20) % 10)
    return root


def _cifar_c_metrics(accuracy: float) -> dict:
    pooled = {c: accuracy - 0.01 * k for k, c in enumerate(CIFAR_C_CORRUPTIONS)}
    return {
        "source": {"kind": "generated", "root": "/tmp/cifar-c"},
        "accuracy": {c: [a] * 5 for c, a in pooled.items()}, "pooled": pooled,
        "seed_paper_mean": float(np.mean(list(pooled.values()))),
        "robustbench_mean": float(np.mean(list(pooled.values())[:15])), "missing": [],
    }


@pytest.fixture(scope="module")
def fake_runs(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NT (2 seeds), AT ε=2 and 8, and both on a stand-in synthetic set; CIFAR-C, robust accuracy and
    NEG records only for some of them; training dynamics and a training probe for all."""
    out = tmp_path_factory.mktemp("fake_runs")
    labels = np.repeat(np.arange(10), PER_CLASS)
    neg_labels = np.arange(20) % 10
    rng, dynamics_rng = np.random.default_rng(1), np.random.default_rng(2)
    settings = [  # method, epsilon, synthetic, seed, with CIFAR-C, with robust accuracy, with NEG records
        ("nt", 0, False, 0, True, True, True), ("nt", 0, False, 1, True, True, True),
        ("at", 2, False, 0, False, True, False), ("at", 8, False, 0, True, False, True),
        ("nt", 0, True, 0, True, True, True), ("at", 8, True, 0, True, True, False),
    ]
    for k, (method, eps, synthetic, seed, cifar_c, robust, neg) in enumerate(settings):
        config = TrainConfig(model="small_cnn", method=method, epsilon_255=eps or 8, seed=seed, record_per_epoch=2,
                             data_root=str(tiny_root), synthetic=str(out / "absent-standin.npz") if synthetic else None,
                             synthetic_tag="standin")
        probs = random_probs(rng, 6, len(labels), 10, sharpen=0.5)
        neg_probs = random_probs(rng, 6, len(neg_labels), 10) if neg else None
        metrics = {"clean_acc": 0.5 + 0.02 * k, "neg_acc": 0.2, "robust_acc": {"8": 0.1 + 0.03 * k} if robust else {}}
        if cifar_c:
            metrics["cifar_c"] = _cifar_c_metrics(0.4 + 0.03 * k)
        run_dir = make_run(out, config, probs, labels, neg_probs, neg_labels if neg else None, metrics=metrics,
                           probe_probs=random_probs(dynamics_rng, 6, len(PROBE), 10, sharpen=0.5),
                           probe_labels=TRAIN_LABELS[PROBE], probe_index=PROBE, train_index=np.arange(len(TRAIN_LABELS)))
        _add_dynamics(run_dir, dynamics_rng, synthetic, clean=method == "at" and not synthetic)
    return out


TRAIN_LABELS = np.repeat(np.arange(10), 16)  # the tiny training split, in ImageFolder order
PROBE = np.arange(0, len(TRAIN_LABELS), 8)  # two per class


def _add_dynamics(run_dir: Path, rng: np.random.Generator, synthetic: bool, clean: bool) -> None:
    """Training statistics of 4 epochs (one example in five skipped per epoch); 30 synthesized draws."""
    correct = (rng.random((4, len(TRAIN_LABELS))) < 0.7).astype(float)
    correct[rng.random(correct.shape) < 0.2] = np.nan
    p_true = np.where(np.isnan(correct), np.nan, rng.random(correct.shape))
    both = {"correct": correct, "p_true": p_true, "margin": 4 * p_true - 2, "loss": 1 - p_true} if clean else None
    draws = {"step": np.arange(30), "index": rng.integers(0, 12, 30), "label": np.zeros(30, dtype=int),
             "loss": rng.random(30), "margin": rng.normal(size=30), "correct": rng.integers(0, 2, 30)} if synthetic else None
    make_dynamics(run_dir, TRAIN_LABELS, correct, p_true=p_true, clean=both, synthetic=draws)


def _assert_clean_execution(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code" and c.source.strip())
    return nb


def _text_outputs(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k in ("text/plain", "text/markdown"))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ANALYSIS_FIGURES))
def test_analysis_notebook_executes_and_saves_figures(name: str, fake_runs: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    old_umask = os.umask(0o022)  # a lab's shared folder: what the notebook writes must be readable by everyone
    try:
        out = run_notebook(name, {"runs": str(fake_runs), "output_dir": str(figures)}, tmp_path / f"{name}.ipynb")
    finally:
        os.umask(old_umask)
    assert out == tmp_path / f"{name}.ipynb"
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in [out, *figures.iterdir()] if p.is_file()}
    assert set(modes.values()) == {"0o644"}, modes
    nb = _assert_clean_execution(out)
    assert NotebookNotary().check_signature(nb)  # signed: JupyterLab trusts its saved outputs
    for stem in ANALYSIS_FIGURES[name]:
        for suffix in (".html", ".png"):
            path = figures / f"{stem}{suffix}"
            assert path.is_file() and path.stat().st_size > 500, path
        assert (figures / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = _text_outputs(nb)
    with_synthetic = name in ("04_synthesized_data", "06_claims", "07_training_dynamics")
    groups = 5 if with_synthetic else 3  # Section 4 notebooks leave the stand-in runs out
    assert f"{groups} run groups" in text
    if not with_synthetic:
        assert "left out 2 groups trained with synthesized data" in text
    assert "missing (have" not in text  # these runs record no plan: no seed is reported missing
    if name == "02_point_categories":
        assert "Images unavailable" not in text  # the gallery found the tiny test images
    if name == "03_cifar10_neg":
        assert "CIFAR-10-NEG not recorded for: AT ε=2/255 (cifar10)" in text
    if name == "04_synthesized_data":
        assert "CIFAR-C source: **generated**" in text
        assert "CIFAR-C not evaluated for: AT ε=2/255" in text
        assert "robust accuracy not evaluated for: AT ε=8/255 (cifar10)" in text
        assert not (figures / "fig8_cifar100_c_per_corruption.png").exists()  # no CIFAR-100 runs: said, not drawn
        assert "No cifar100 run has CIFAR-C metrics" in text
    if name == "07_training_dynamics":
        assert "images unavailable" in text  # the stand-in synthetic file is not on disk: the table stands alone


@pytest.mark.slow
def test_train_notebook_trains_and_then_reports_missing_cifar_c(tiny_root: Path, tmp_path: Path) -> None:
    overrides = dict(
        model="small_cnn", method="at", epsilon_255=8, pgd_steps=1, epochs=2, batch_size=32, lr=0.05, lr_milestones=[1],
        record_per_epoch=2, robust_eval_n=20, robust_eval_steps=1, eval_batch_size=64, data_root=str(tiny_root),
        neg_path=str(tiny_root / "CIFAR10_neg.npz"), out_dir=str(tmp_path / "runs"), progress=False,
    )
    figures = tmp_path / "figures"
    out = run_notebook("00_train", {"preset": None, "overrides": overrides, "output_dir": str(figures)}, tmp_path / "train.ipynb")
    _assert_clean_execution(out)
    run_dir = tmp_path / "runs" / "cifar10_small_cnn_at8_s0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["robust_acc"]) == {"8"}
    assert json.loads((run_dir / "config.json").read_text())["pgd_steps"] == 1  # the override reached TrainConfig
    assert (figures / "training_curves.html").is_file() and (figures / "training_curves.png").is_file()
    # a real run without CIFAR-C: 04 says so plainly, naming the commands that produce it
    nb = _assert_clean_execution(run_notebook("04_synthesized_data", {"runs": str(tmp_path / "runs"), "output_dir": str(figures)},
                                              tmp_path / "04.ipynb"))
    text = _text_outputs(nb)
    assert "CIFAR-C is not at hand" in text and "python -m atlib.corruptions" in text and "python -m atlib.evaluate" in text
    assert (figures / "robust_accuracy_vs_epsilon.png").is_file()


@pytest.mark.slow
def test_dynamics_notebook_without_training_records_names_the_option(tmp_path: Path) -> None:
    make_run(tmp_path / "runs", TrainConfig(model="small_cnn", method="nt"), random_probs(np.random.default_rng(0), 2, 4, 10),
             np.arange(4))
    with warnings.catch_warnings(record=True) as caught:  # the demo renders two at a time: no filter is swapped
        warnings.simplefilter("always")
        with pytest.raises(NotebookError, match=r"07_training_dynamics\.py failed in cell \d+: ValueError: .*record_train=True"):
            run_notebook("07_training_dynamics", {"runs": str(tmp_path / "runs"), "output_dir": str(tmp_path / "f")},
                         tmp_path / "07.ipynb")
    assert not [w for w in caught if "does not end in" in str(w.message)]  # papermill's check of the file name


@pytest.mark.slow
def test_failing_notebook_names_itself_and_keeps_the_partial_copy(tmp_path: Path) -> None:
    output = tmp_path / "bad.ipynb"
    with pytest.raises(NotebookError, match=r"00_train\.py failed in cell \d+: ValueError: .*epsilon_255") as info:
        run_notebook("00_train", {"overrides": {"method": "at", "epsilon_255": 0.03}}, output)
    assert not output.exists()  # only a fully executed notebook takes the output name
    partial = tmp_path / "bad.failed.ipynb"
    assert info.value.saved == partial and str(partial) in str(info.value)
    nb = nbformat.read(partial, as_version=4)
    assert any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))


def test_unknown_parameter_is_refused_before_running(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"01_entropy\.py: unknown parameters \['run'\]; it takes .*'runs'"):
        run_notebook("01_entropy", {"run": "x"}, tmp_path / "x.ipynb")
    assert not list(tmp_path.iterdir())


def test_every_notebook_has_one_parameters_cell_that_survives_conversion(tmp_path: Path) -> None:
    import papermill

    names = available_notebooks()
    assert set(ANALYSIS_FIGURES) | {"00_train"} <= set(names)
    for name in names:
        nb = load_notebook(name)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, name
        assert nb.metadata["kernelspec"]["name"] == "python3"
        nbformat.write(nb, tmp_path / f"{name}.ipynb")  # papermill reads every parameter line (a comment can trip it)
        assert set(papermill.inspect_notebook(str(tmp_path / f"{name}.ipynb"))) == set(notebook_parameters(nb)), name
        source = resolve_notebook(name).read_text()
        assert "kernelspec:" in source and "name: python3" in source  # the header carries it for JupyterLab
    assert set(notebook_parameters(load_notebook("00_train"))) == {"preset", "overrides", "force", "output_dir"}
    for name in ANALYSIS_FIGURES:
        assert {"runs", "output_dir"} <= set(notebook_parameters(load_notebook(name)))


def test_resolve_notebook_errors_list_the_shipped_notebooks(tmp_path: Path) -> None:
    assert resolve_notebook("01_entropy") == REPO / "notebooks" / "01_entropy.py"
    assert resolve_notebook("01_entropy.py") == REPO / "notebooks" / "01_entropy.py"
    with pytest.raises(FileNotFoundError, match="01_entropy"):
        resolve_notebook("99_nothing")


@pytest.mark.slow
def test_kernel_is_this_python_and_imports_atlib(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text('# %% tags=["parameters"]\nout = ""\n\n# %%\nimport sys, atlib, pathlib\n'
                      'pathlib.Path(out).write_text(sys.executable + "\\n" + str(pathlib.Path.cwd()))\n')
    probe = tmp_path / "probe.txt"
    run_notebook(source, {"out": str(probe)}, tmp_path / "probe.ipynb")
    executable, cwd = probe.read_text().splitlines()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(cwd) == REPO  # relative paths in parameters are relative to the repository root


@pytest.mark.slow
def test_cli_parses_literals_and_reports_errors(tmp_path: Path) -> None:
    assert parse_value("8") == 8 and parse_value("[2, 8]") == [2, 8] and parse_value("{'a': 1}") == {"a": 1}
    assert parse_value("None") is None and parse_value("outputs/runs/*") == "outputs/runs/*"
    command = [sys.executable, "-m", "atlib.notebooks", "01_entropy", "-p", "nope", "1", "-o", str(tmp_path / "o.ipynb")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown parameters ['nope']" in result.stderr
    listed = subprocess.run([sys.executable, "-m", "atlib.notebooks", "00_train", "--list-parameters"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and 'preset = "demo"' in listed.stdout
