"""The command-line tools: one source of help per config field, fast --help, checks before any folder is made,
and one boundary that turns every failure into one line (atlib.cli)."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from atlib.__main__ import COMMANDS
from atlib.cli import INTERRUPTED_MESSAGE, command, message
from atlib.config import TrainConfig
from atlib.errors import FileError, file_errors
from atlib.store.io import DiskFullError
from atlib.sweep.grid import expand, parse_grid
from atlib.train.cli import build_parser, config_from_args

from tinydata import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
HEAVY = ("torch", "pandas", "altair", "numba", "scipy", "matplotlib", "papermill")
CLIS = ["atlib", *sorted({module for module, _ in COMMANDS.values()})]


def _run(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env or ENV, timeout=300)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    """The stderr of a failed command: exactly one line, ``error: ...``, and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# ----------------------------------------------------------------------------- help: one source, fast


def test_every_field_has_one_line_of_help_and_one_default() -> None:
    text = " ".join(build_parser().format_help().split())
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata["help"] and "\n" not in f.metadata["help"], f.name
        assert "--" + f.name.replace("_", "-") in text
    assert "(default: None)" not in text and "(default 120)" not in text
    assert text.count("(default: 120)") == 1  # --epochs: one default, not two
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for name in ("method", "attack_bn_mode", "dataset", "amp", "channels_last"):
        assert f"--{name.replace('_', '-')} {{{','.join(fields[name].metadata['choices'])}}}" in text
    assert "{nt,at,trades,mart,fgsm_rs}" in text and "--compile, --no-compile" in text
    assert "resnet18, preact_resnet18, wrn28_10, small_cnn, wrn34_10" in text  # --model lists the built-in models


def test_every_data_root_help_states_the_one_search_rule() -> None:
    rule = "$ATLIB_DATA, then ./data, then torchvision's download when online"
    for module in ("atlib.train", "atlib.evaluate", "atlib.corruptions", "atlib.demo"):
        text = " ".join(_run("-m", module, "--help").stdout.split())
        assert rule in text and "an error if the data are not there" in text, module


@pytest.mark.parametrize("module", CLIS)
def test_help_loads_no_heavy_library(module: str) -> None:
    """--help answers before torch, pandas, altair, numba, scipy or papermill are imported (about 0.3 s of CPU
    instead of 4-8 s; benchmarks/bench_cli.py prints the times)."""
    probe = (f"import runpy, sys\nsys.argv = ['x', '--help']\ntry:\n    runpy.run_module({module!r}, run_name='__main__')\n"
             f"except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = _run("-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_top_level_help_lists_every_command() -> None:
    result = _run("-m", "atlib", "--help")
    assert result.returncode == 0
    for name in ("demo", "train", "evaluate", "claims", "explorer", "corruptions", "notebooks", "sweep"):
        assert f"\n  {name} " in result.stdout
    assert "AutoAttack" in result.stdout and "checkpoints trained elsewhere" in result.stdout


# ----------------------------------------------------------------------------- checks before any folder is made

FLOAT_FIELDS = [name for name, _ in TrainConfig()._floats()] + ["pgd_alpha_255", "awp_gamma", "ema_decay"]
NON_FINITE = ["nan", "inf", "-inf"]


@pytest.mark.parametrize("field", sorted(set(FLOAT_FIELDS)))
@pytest.mark.parametrize("value", NON_FINITE)
def test_every_float_field_rejects_non_finite_values(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        TrainConfig.from_overrides({field: value})  # CLI, --set and notebook parameters arrive as text
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        number = float(value)  # YAML's .nan and Python's float("nan")
        TrainConfig.from_overrides({field: [8.0, number] if field == "robust_eval_eps_255" else number})


def test_a_non_finite_budget_among_several_is_rejected() -> None:
    with pytest.raises(ValueError, match="robust_eval_eps_255 must be a finite number, got nan"):
        TrainConfig(robust_eval_eps_255=(2.0, math.nan))


def test_a_grid_with_nan_fails_before_anything_runs(tmp_path: Path) -> None:
    grid = parse_grid({"fixed": {"lr": float("nan")}, "product": {"seed": [0, 1]}}, name="g")
    with pytest.raises(ValueError, match="lr must be a finite number"):
        expand(grid, tmp_path / "runs")


@pytest.mark.parametrize("name", ["../../../x", "a/b", "..", ".", ""])
def test_a_run_name_that_is_a_path_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run folder's name inside out_dir, not a path"):
        TrainConfig(name=name)
    grid = parse_grid({"fixed": {"name": "../../../x"}, "product": {"seed": [0]}}, name="g")
    with pytest.raises(ValueError, match="not a path"):
        expand(grid, tmp_path / "runs")


@pytest.mark.parametrize("args, text", [
    (["--seed", "-1"], "seed must be in [0, 2**32), got -1"),
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--robust-eval-eps-255", "8", "inf"], "robust_eval_eps_255 must be a finite number, got inf"),
    (["--device", "tpu"], "device must be auto, cpu, cuda or cuda:N"),
    (["--name", "../escape"], "not a path"),
])
def test_cli_checks_fail_before_any_folder_is_made(args: list[str], text: str, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    line = _one_line_error(_run("-m", "atlib.train", "--out-dir", str(out), *args))
    assert text in line
    assert not out.exists() and not (tmp_path / "escape").exists()


def test_stored_nan_is_reported_as_a_conflict_not_raised() -> None:
    """A config stored before numbers were checked may hold NaN: comparing with it names the field."""
    stored = {**TrainConfig().to_dict(), "robust_eval_eps_255": [float("nan")]}
    conflicts = TrainConfig().conflicts_with(json.loads(json.dumps(stored)))
    assert list(conflicts) == ["robust_eval_eps_255"]
    assert TrainConfig().conflicts_with(json.loads(json.dumps(TrainConfig().to_dict()))) == {}
    assert TrainConfig(lr=0.2).conflicts_with({"lr": 0.1}) == {"lr": (0.1, 0.2)}


def test_cli_values_reach_the_config() -> None:
    config, force = config_from_args(["--preset", "quick", "--method", "trades", "--no-record-train", "--amp", "on"])
    assert (config.method, config.record_train, config.amp, config.model, force) == ("trades", False, "on", "small_cnn", False)


# ----------------------------------------------------------------------------- the boundary


def _fails_with(err: BaseException):
    @command
    def main() -> int:
        raise err

    return main


@pytest.mark.parametrize("err, expected", [
    (ValueError("lr must be > 0"), "error: lr must be > 0"),
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/records/test_probs.npy"),
     "error: runs/x/records/test_probs.npy: no space left on device; the disk is full"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/runs"), "error: /ro/runs: permission denied; no permission"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"), "error: /mnt/ro/x: read-only file system; the file "
                                                                "system is read-only: choose a writable folder"),
    (DiskFullError(errno.ENOSPC, "disk full at runs/x/checkpoint.pt (the previous file, if any, is intact); free space"),
     "error: disk full at runs/x/checkpoint.pt (the previous file, if any, is intact); free space"),
    (FileError("runs/x/checkpoint.pt", "damaged (EOFError)", "run with --force"),
     "error: runs/x/checkpoint.pt: damaged (EOFError); run with --force"),
    (RuntimeError("CUDA error: device-side assert\nmore"), "error: RuntimeError: CUDA error: device-side assert (set "
                                                           "ATLIB_DEBUG=1 for the traceback)"),
    (KeyError("epoch"), "error: KeyError: 'epoch'"),
    (KeyError("no records for 'neg'; this run recorded ['test']"), "error: no records for 'neg'; this run recorded ['test']"),
])
def test_boundary_prints_one_line_and_exits_2(err: BaseException, expected: str, capsys, monkeypatch) -> None:
    monkeypatch.delenv("ATLIB_DEBUG", raising=False)
    assert _fails_with(err)() == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), lines


def test_boundary_interrupt_and_debug(capsys, monkeypatch) -> None:
    monkeypatch.delenv("ATLIB_DEBUG", raising=False)
    assert _fails_with(KeyboardInterrupt())() == 130
    assert capsys.readouterr().err.strip() == INTERRUPTED_MESSAGE
    monkeypatch.setenv("ATLIB_DEBUG", "1")
    assert _fails_with(RuntimeError("boom"))() == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("error: RuntimeError: boom")


@pytest.mark.parametrize("raised", [EOFError("Ran out of input"), zipfile.BadZipFile("File is not a zip file"),
                                    RuntimeError("PytorchStreamReader failed reading zip archive"), OSError("truncated")])
def test_file_errors_name_the_file_and_the_fix(raised: BaseException) -> None:
    with pytest.raises(FileError) as caught:
        with file_errors("runs/x/checkpoint.pt", "restore it or retrain with --force"):
            raise raised
    text = message(caught.value)
    assert text.startswith("runs/x/checkpoint.pt: ") and text.endswith("; restore it or retrain with --force")
    assert "\n" not in text


def test_unknown_command() -> None:
    result = _run("-m", "atlib", "nosuch")
    assert result.returncode == 2 and "unknown command 'nosuch'" in result.stderr


# ----------------------------------------------------------------------------- corruptions: one split per folder


def test_corruptions_refuse_to_mix_splits_in_one_folder(tmp_path: Path) -> None:
    import numpy as np

    from atlib.corruptions.generate import MANIFEST, generate_cifar_c

    images, labels = np.full((4, 32, 32, 3), 128, np.uint8), np.arange(4)
    out = generate_cifar_c(images, labels, tmp_path / "c", ["contrast"], workers=1, source={"dataset": "cifar10", "split": "test"})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match="generated with split='test', not 'train'"):
        generate_cifar_c(images, labels, out, ["contrast"], workers=1, source={"dataset": "cifar10", "split": "train"})
    with pytest.raises(ValueError, match="generated with dataset='cifar10', not 'cifar100'"):
        generate_cifar_c(images, labels, out, ["contrast"], workers=1, source={"dataset": "cifar100", "split": "test"})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # a folder generated before the source was recorded holds the test split (the only one the CLI made by default)
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["split"], manifest["dataset"]
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="split='test', not 'train'"):
        generate_cifar_c(images, labels, out, ["contrast"], workers=1, source={"dataset": "cifar10", "split": "train"})
    generate_cifar_c(images, labels, out, ["contrast"], workers=1, source={"dataset": "cifar10", "split": "test"})


# ----------------------------------------------------------------------------- failures named, bad runs skipped


def _fake_runs(out: Path, seeds: tuple[int, ...] = (0, 1)) -> list[Path]:
    import numpy as np

    from fakeruns import make_run, random_probs

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 50)
    paths = []
    for method in ("nt", "at"):
        for seed in seeds:
            config = TrainConfig(model="small_cnn", method=method, seed=seed, epochs=4)
            paths.append(make_run(out, config, random_probs(rng, 4, 50, 10), labels,
                                  metrics={"clean_acc": 0.5, "neg_acc": None, "robust_acc": {}}))
    return paths


def test_claims_on_a_missing_folder_fails(tmp_path: Path) -> None:
    line = _one_line_error(_run("-m", "atlib", "claims", str(tmp_path / "nonexistent")))
    assert "no run folders" in line and "nonexistent" in line


def test_claims_name_and_skip_a_run_with_a_bad_config(tmp_path: Path) -> None:
    from atlib.claims import report_for

    paths = _fake_runs(tmp_path / "runs")
    (paths[-1] / "config.json").write_text('{"lr": 0.1, "epochs": ')  # cut by a full disk
    report = report_for(str(tmp_path / "runs"))
    assert report.notes[0].startswith(f"{paths[-1]} skipped: {paths[-1] / 'config.json'} is damaged")
    assert report.claims  # the other runs are still judged
    result = _run("-m", "atlib", "claims", str(tmp_path / "runs"))
    assert result.returncode == 0 and f"{paths[-1]} skipped" in result.stdout


def test_a_cut_progress_file_does_not_block_status(tmp_path: Path) -> None:
    from atlib.store.runs import read_progress, run_status

    run = _fake_runs(tmp_path / "runs", seeds=(0,))[0]
    (run / "metrics.json").unlink()
    (run / "checkpoint.pt").write_bytes(b"x")
    (run / "progress.json").write_text('{"epoch": 1, "upd')
    assert read_progress(run) == {} and run_status(run) == "partial"


def test_evaluating_non_finite_weights_says_so(tmp_path: Path, capsys, monkeypatch) -> None:
    import torch

    from atlib.evaluate.__main__ import main
    from atlib.models import build_model

    monkeypatch.delenv("ATLIB_DEBUG", raising=False)
    model = build_model("small_cnn", 10)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    torch.save(model.state_dict(), tmp_path / "nan.pt")
    assert main(["--checkpoint", str(tmp_path / "nan.pt"), "--arch", "small_cnn", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / 'nan.pt'}: the model's weights hold NaN or infinite values" in err[0]


def test_a_damaged_image_is_named(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from atlib.data.imagefolder import read_image_folder

    for k in range(2):
        (tmp_path / "test" / f"c{k}").mkdir(parents=True)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "test" / f"c{k}" / "0.png")
    (tmp_path / "test" / "c1" / "1.jpg").write_bytes(b"")  # 0 bytes
    with pytest.raises(FileError) as caught:
        read_image_folder(tmp_path / "test", 32)
    assert str(caught.value).startswith(f"{tmp_path / 'test' / 'c1' / '1.jpg'}: ")
    assert str(caught.value).endswith("the image is damaged or not an image: replace or remove it")


def test_file_errors_leave_other_errors_alone() -> None:
    with pytest.raises(ValueError, match="32x32"):
        with file_errors("x.png", "fix"):
            raise ValueError("x.png is 28x28; ImageFolder images must be 32x32 RGB")


def test_the_docs_show_the_options_and_commands_as_the_code_has_them() -> None:
    """docs/cli.md's options table is generated from the fields' help; regenerate it with
    ``python -c "from atlib.train.cli import options_markdown; print(options_markdown())"``."""
    from atlib.train.cli import options_markdown

    page = (REPO / "docs" / "cli.md").read_text()
    table = page.split("<!-- options-table: generated by atlib.train.cli.options_markdown() -->\n")[1].split("\n<!-- /")[0]
    assert table == options_markdown()
    for name, (_, text) in COMMANDS.items():
        assert f"| `{name}` | {text} |" in page


def test_evaluate_refuses_an_unknown_device_in_one_line(tmp_path: Path) -> None:
    line = _one_line_error(_run("-m", "atlib", "evaluate", "--checkpoint", str(tmp_path / "x.pt"), "--arch", "small_cnn",
                                "--device", "tpu"))
    assert "device must be auto, cpu, cuda or cuda:N" in line
