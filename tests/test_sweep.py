"""Sweeps: grid expansion, plans and estimates, Slurm submission (fake sbatch/sacct), local jobs
killed and resumed, status and rendering. CPU only; the local jobs train a tiny CNN."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import submitit
import yaml
from PIL import Image

from atlib.config import PRESETS, TrainConfig
from atlib.store.io import read_json, write_json
from atlib.store.records import RecordStore
from atlib.store.runs import load_run, run_status
from atlib.sweep import SweepDir, TrainPack, expand, load_grid, load_throughput, parse_grid, run_hours, run_local, survey
from atlib.sweep.__main__ import main
from atlib.sweep.estimate import FORWARD_SPEEDUP, epoch_passes
from atlib.sweep.grid import builtin_grids, prepared_inputs, run_plans
from atlib.sweep.launch import visible_gpus
from atlib.sweep.status import counts, format_status
from fakeruns import make_run, random_probs

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def write_grid(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- expansion


def test_expansion_is_ordered_deduped_and_stable(tmp_path: Path) -> None:
    grid = parse_grid({
        "preset": "demo",
        "fixed": {"epochs": 3, "model": "resnet18"},
        "product": {"dataset": ["cifar10", "cifar100"], "method": ["nt", "at"], "epsilon_255": [2, 8], "seed": [0, 1]},
    }, name="t")
    configs = expand(grid, tmp_path / "runs")
    # reference: the product written out by hand, NT once per (dataset, seed) since it ignores epsilon
    expected = [f"{d}_resnet18_{m}_s{s}" for d in ("cifar10", "cifar100") for m in ("nt", "at2", "at8") for s in (0, 1)]
    assert [c.run_name for c in configs] == expected
    assert [c.run_name for c in expand(grid, tmp_path / "runs")] == expected  # deterministic
    assert all(c.epochs == 3 and c.model == "resnet18" for c in configs)  # fixed wins over the preset
    assert all(c.train_subset == PRESETS["demo"]["train_subset"] for c in configs)  # the rest of the preset applies
    assert all(c.epsilon_255 == 0 for c in configs if c.method == "nt")
    assert {Path(c.out_dir) for c in configs} == {(tmp_path / "runs").absolute()}


def test_include_templates_and_product_sizes(tmp_path: Path) -> None:
    grid = parse_grid({
        "fixed": {"method": "at", "epsilon_255": 8},
        "product": {"dataset": ["cifar10", "cifar100"], "synthetic": [None, "gen/{dataset}/1m.npz"], "seed": [0, 1, 2]},
        "include": [{"dataset": "cifar10", "epsilon_255": 16, "seed": 9, "name": "{run_name}_extra"},
                    {"dataset": "cifar10", "seed": 0}],  # a duplicate of a product run: merged
    }, name="t")
    configs = expand(grid, tmp_path)
    assert len(configs) == 2 * 2 * 3 + 1
    synth = [c for c in configs if c.uses_synthetic]
    assert len(synth) == 6 and all(c.synthetic == f"gen/{c.dataset}/1m.npz" for c in synth)
    assert synth[0].run_name == "cifar10_resnet18_at8_synth0.5_s0"
    assert configs[-1].run_name == "cifar10_resnet18_at16_s9_extra" and configs[-1].epsilon_255 == 16


def test_runs_sharing_a_name_but_not_a_config_are_refused(tmp_path: Path) -> None:
    grid = parse_grid({"product": {"lr": [0.1, 0.05]}}, name="t")
    with pytest.raises(ValueError, match=r"share the run folder 'cifar10_resnet18_at8_s0' but differ in lr \(0.1 vs 0.05\)"):
        expand(grid, tmp_path)
    named = parse_grid({"product": {"lr": [0.1, 0.05]}, "fixed": {"name": "{run_name}_lr{lr:g}"}}, name="t")
    assert [c.run_name for c in expand(named, tmp_path)] == ["cifar10_resnet18_at8_s0_lr0.1", "cifar10_resnet18_at8_s0_lr0.05"]


def test_builtin_grids() -> None:
    paper = load_grid("paper")
    configs = expand(paper, "unused")
    assert len(configs) == 120 and len({c.run_name for c in configs}) == 120
    assert sorted({c.epsilon_255 for c in configs}) == [0, 1, 2, 4, 8, 16]
    assert {c.seed for c in configs} == set(range(5)) and {c.dataset for c in configs} == {"cifar10", "cifar100"}
    assert sum(c.uses_synthetic for c in configs) == 60
    assert all(c.epochs == 120 and c.model == "resnet18" and c.pgd_steps == 10 for c in configs)
    demo = expand(load_grid("demo"), "unused")  # the demo's grid: tests/test_demo.py checks it run by run
    assert [c.run_name for c in demo][:9] == [f"cifar10_small_cnn_{m}_s{s}" for m in ("nt", "at2", "at8") for s in (0, 1, 2)]
    assert [c.run_name for c in demo][9:] == ["cifar10_small_cnn_nt_standin0.5_s0", "cifar10_small_cnn_at8_standin0.5_s0"]
    assert {"demo", "paper", "quick", "study", "variants"} <= set(builtin_grids())


@pytest.mark.parametrize("data, message", [
    ({"product": {"seed": [0]}, "fixed": {"epsilon": 8}},
     r"unknown field\(s\) \['epsilon'\] in fixed; valid fields: dataset, model, .*method, epsilon_255"),
    ({"product": {"sed": [0, 1]}}, r"unknown field\(s\) \['sed'\] in product; valid fields: .*seed"),
    ({"product": {}}, "product is empty"),
    ({"fixed": {"seed": 1}}, "product is empty"),
    ({"product": {"seed": []}}, r"product.seed is an empty list"),
    ({"product": {"seed": 3}}, r"product.seed must be a list of values, got int 3"),
    ({"product": {"seed": [0, 1]}, "fixed": {"seed": 2}}, r"\['seed'\] are both in product and fixed"),
    ({"product": {"seed": ["a"]}}, r"product.seed: expected int, got str 'a'"),
    ({"product": {"seed": [0]}, "fixed": {"epochs": "ten"}}, r"fixed.epochs: expected int, got str 'ten'"),
    ({"product": {"seed": [0]}, "fixed": {"compile": 1}}, r"fixed.compile: expected bool, got int 1"),
    ({"product": {"seed": [0]}, "fixed": {"amp": True}}, r"fixed.amp: expected str, got bool True"),
    ({"product": {"seed": [0]}, "fixed": {"lr_milestones": 70}}, r"fixed.lr_milestones: expected a list of int"),
    ({"product": {"seed": [0]}, "fixed": {"out_dir": "x"}}, r"out_dir is set by the sweep"),
    ({"product": {"seed": [0]}, "preset": "huge"}, r"unknown preset 'huge'; choose one of demo, paper"),
    ({"product": {"seed": [0]}, "sweep": {}}, r"unknown grid key\(s\) \['sweep'\]; valid keys"),
    ({"product": {"seed": [0]}, "slurm": {"partiton": "gpu"}}, r"unknown field\(s\) \['partiton'\] in slurm; valid fields: partition"),
    ({"product": {"seed": [0]}, "slurm": {"gpus": "one"}}, r"slurm.gpus: expected int"),
    ({"product": {"seed": [0]}, "include": {"seed": 1}}, "include must be a list"),
    ({"product": {"seed": [0]}, "prepare": {"standin": 0}}, r"prepare.standin: expected a positive number of images, got 0"),
    ({"product": {"seed": [0]}, "prepare": {"cifar10_c": 5}}, r"unknown input\(s\) \['cifar10_c'\] in prepare; it can make: standin"),
    ({"product": {"dataset": ["cifar10", "cifar100"]}, "prepare": {"cifar_c": 5}}, r"\['dataset'\] must be fixed, not in product"),
    ([1, 2], "a grid is a mapping"),
])
def test_bad_grids_get_clear_errors(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=message):
        load_grid(path)


def test_grid_errors_at_expansion_and_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no such file, and not a built-in grid \(built-in: demo, paper"):
        load_grid(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("product: {seed: [0, 1\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_grid(tmp_path / "broken.yaml")
    (tmp_path / "g.json").write_text(json.dumps({"product": {"seed": [0, 1]}, "fixed": {"weight_decay": "1e-4"}}))
    assert [c.weight_decay for c in expand(load_grid(tmp_path / "g.json"), tmp_path)] == [1e-4, 1e-4]  # YAML-style 1e-4 text
    bad_value = parse_grid({"product": {"epsilon_255": [0.03]}}, name="t")
    with pytest.raises(ValueError, match=r"1/255 units.*\(combination \{'epsilon_255': 0.03\}\)"):
        expand(bad_value, tmp_path)
    with pytest.raises(ValueError, match=r"synthetic='\{datset\}.npz': cannot fill placeholder 'datset'"):
        expand(parse_grid({"product": {"seed": [0]}, "fixed": {"synthetic": "{datset}.npz"}}, name="t"), tmp_path)


# ----------------------------------------------------------------------------- plan and estimate


def test_estimate_follows_the_cost_model(tmp_path: Path) -> None:
    bench = tmp_path / "results.json"
    write_json(bench, {"device": "TestGPU", "small_cnn": {"nt_img_s": 1000.0, "at_img_s": 200.0}})
    throughput = load_throughput([tmp_path / "missing.json", bench])
    base = TrainConfig(dataset="cifar100", model="small_cnn", method="nt", epochs=2, train_subset=1000, test_subset=100,
                       record_per_epoch=1, robust_eval_n=0)
    record = 2 * 100 / (FORWARD_SPEEDUP * 1000)
    assert run_hours(base, throughput) * 3600 == pytest.approx(2 * 1000 / 1000 + record)
    at10 = base.replace(method="at", epsilon_255=8, pgd_steps=10)
    assert run_hours(at10, throughput) * 3600 == pytest.approx(2 * 1000 / 200 + record)  # measured PGD-10 rate
    at4 = at10.replace(pgd_steps=4)
    assert run_hours(at4, throughput) * 3600 == pytest.approx(2 * 1000 / (200 * 11 / 5) + record)
    assert run_hours(at4, throughput, remaining=0.5) * 3600 == pytest.approx((2 * 1000 / (200 * 11 / 5) + record) / 2)
    trades = at10.replace(method="trades")  # clean target (a third), 10 steps, clean and adversarial, BN-only clean (a third)
    assert run_hours(trades, throughput) * 3600 == pytest.approx(2 * 1000 / (200 * 11 / (12 + 2 / 3)) + record)
    fgsm = at10.replace(method="fgsm_rs")  # one attack step: 2 passes
    assert run_hours(fgsm, throughput) * 3600 == pytest.approx(2 * 1000 / (200 * 11 / 2) + record)
    awp = at10.replace(awp_gamma=0.01)  # AWP's proxy step: 12 passes
    assert run_hours(awp, throughput) * 3600 == pytest.approx(2 * 1000 / (200 * 11 / 12) + record)
    assert "measured on TestGPU" in throughput.describe(["small_cnn"])
    flat = tmp_path / "train.json"  # benchmarks/bench_train.py's layout
    write_json(flat, {"device": "cpu", "model": "small_cnn", "nt_img_s": 500.0, "at_img_s": 50.0})
    assert load_throughput([flat]).rates("small_cnn") == (500.0, 50.0)
    assumed = load_throughput([tmp_path / "missing.json"])
    assert "ASSUMED" in assumed.describe(["resnet18"])
    assert run_hours(at10, assumed) * 3600 == pytest.approx(2 * 1000 / (40_000 / 11) + 2 * 100 / (FORWARD_SPEEDUP * 40_000))


def _forbid_executors(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an executor was constructed")

    monkeypatch.setattr(submitit, "AutoExecutor", refuse)
    monkeypatch.setattr(submitit, "LocalExecutor", refuse)


def test_dry_run_submits_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    _forbid_executors(monkeypatch)
    out = tmp_path / "sweep"
    for launcher in ("slurm", "local"):
        assert main(["--grid", "demo", "--launcher", launcher, "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "to submit: 11 run(s) (11 new, 0 partial, 0 failed" in text and "dry run: nothing submitted" in text
    assert "would submit 11 run(s) as one Slurm job array" in text and "would run 11 run(s) as local submitit jobs" in text
    assert f"made before launching (kept once made): standin {out.absolute()}/data/standin_" in text
    assert "synthetic=" not in text and "CIFAR-10-C (" not in text  # what the grid makes is never a missing input
    assert not out.exists()  # no sweep.json, no logs, no run folder, no prepared input


def test_dry_run_counts_partial_and_done(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sweep"
    configs = expand(load_grid("demo"), out / "runs")
    rng = np.random.default_rng(0)
    make_run(out / "runs", configs[0], random_probs(rng, 2, 5, 10), rng.integers(0, 10, 5))
    partial = make_run(out / "runs", configs[1], random_probs(rng, 2, 5, 10), rng.integers(0, 10, 5), complete=False)
    (partial / "checkpoint.pt").write_bytes(b"x")
    assert main(["--grid", "demo", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "to submit: 10 run(s) (9 new, 1 partial, 0 failed" in text and "skipped: 1 done" in text


# ----------------------------------------------------------------------------- status


def _dead_pid() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return str(proc.pid)


def _fake_job(sweep: SweepDir, job_id: str, outcome: tuple | None, stderr: str) -> None:
    folder = sweep.logs / job_id
    folder.mkdir(parents=True)
    (folder / f"{job_id}_0_log.err").write_text(stderr)
    if outcome is not None:
        with open(folder / f"{job_id}_0_result.pkl", "wb") as f:
            pickle.dump(outcome, f)


def test_status_counts_every_state(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = SweepDir(tmp_path / "sweep")
    grid = write_grid(tmp_path / "g.yaml", {"fixed": {"model": "small_cnn", "method": "nt"}, "product": {"seed": list(range(7))}})
    c = expand(load_grid(grid), sweep.runs)
    rng = np.random.default_rng(0)
    probs, labels = random_probs(rng, 3, 5, 10), rng.integers(0, 10, 5)
    make_run(sweep.runs, c[0], probs, labels)  # done
    running = make_run(sweep.runs, c[1], probs, labels, complete=False)
    write_json(running / "progress.json", {"points": 2, "total_points": 360, "updated": time.time()})
    partial = make_run(sweep.runs, c[2], probs, labels, complete=False)
    (partial / "checkpoint.pt").write_bytes(b"x")
    make_run(sweep.runs, c[3], probs, labels, complete=False)  # failed: its job returned a traceback
    make_run(sweep.runs, c[4], probs, labels, complete=False)  # failed: its job was killed (no result)
    make_run(sweep.runs, c[5].replace(lr=0.5), probs, labels)  # conflict; c[6] missing
    sweep.start_launch({"name": "t"}, [x.run_name for x in c], "local", {})
    failed_id, killed_id = _dead_pid(), _dead_pid()
    sweep.add_jobs({c[3].run_name: failed_id, c[4].run_name: killed_id})
    _fake_job(sweep, failed_id, ("error", "Traceback\nValueError: boom"), "line 1\rline 2\nTraceback (most recent call last):\nValueError: boom\n")
    _fake_job(sweep, killed_id, None, "epoch 1\n")

    states = survey(c, sweep)
    assert [s.state for s in states] == ["done", "running", "partial", "failed", "failed", "conflict", "missing"]
    assert [s.job_state for s in states[3:5]] == ["FAILED", "KILLED"]
    assert counts(states) == {"done": 1, "running": 1, "queued": 0, "failed": 2, "partial": 1, "missing": 1, "conflict": 1}
    assert states[0].points == 3 and states[1].points == 2
    text = format_status(states, sweep)
    assert "done 1, running 1, failed 2, partial 1, missing 1, conflict 1" in text
    assert f"FAILED {c[3].run_name}: job {failed_id} (FAILED)" in text and "  | line 2\n" in text and "  | ValueError: boom" in text
    assert f"CONFLICT {c[5].run_name}: lr: stored 0.5, grid 0.1" in text

    assert main(["--grid", str(grid), "--out", str(sweep.out), "--status"]) == 0
    assert "  | ValueError: boom" in capsys.readouterr().out
    # launching refuses while a run folder holds another config
    assert main(["--grid", str(grid), "--out", str(sweep.out), "--launcher", "local"]) == 2
    assert "different config" in capsys.readouterr().err


# ----------------------------------------------------------------------------- slurm (fake sbatch/sacct)


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``sbatch`` that records the submission file and answers job 4242; ``sacct`` with fixed states; ``srun``
    (never called at submission, but submitit looks for it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {bin_dir}/submitted.sh\necho "Submitted batch job 4242"\n')
    (bin_dir / "sacct").write_text("#!/bin/sh\nprintf 'JobID|State|NodeList\\n4242_0|RUNNING|n1\\n4242_1|PENDING|None\\n"
                                   "4242_2|TIMEOUT|n2\\n4242_3|COMPLETED|n3\\n'\n")
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    for tool in ("sbatch", "sacct", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_slurm_array_submission(tmp_path: Path, fake_slurm: Path, capsys: pytest.CaptureFixture) -> None:
    grid = write_grid(tmp_path / "g.yaml", {
        "fixed": {"model": "small_cnn", "method": "at", "epsilon_255": 8},
        "product": {"seed": [0, 1, 2, 3]},
        "slurm": {"partition": "gpu", "cpus": 6, "time_min": 30},
    })
    out = tmp_path / "sweep"
    assert main(["--grid", str(grid), "--launcher", "slurm", "--out", str(out), "--account", "lab", "--time-min", "90",
                 "--array-parallelism", "3", "--qos", "high"]) == 0
    script = (fake_slurm / "submitted.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --time=90", "#SBATCH --cpus-per-task=6",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --array=0-3%3", "#SBATCH --qos=high", "#SBATCH --job-name=atlib-g", "#SBATCH --signal=USR2@",
                 f"#SBATCH --output={out.absolute()}/logs/%A_%a/%A_%a_0_log.out"):
        assert line in script
    record = json.loads((out / "sweep.json").read_text())
    names = [f"cifar10_small_cnn_at8_s{s}" for s in range(4)]
    assert {n: j["job_id"] for n, j in record["launches"][-1]["jobs"].items()} == {n: f"4242_{i}" for i, n in enumerate(names)}
    assert record["launches"][-1]["options"]["account"] == "lab"
    # each array task got a TrainPack (checkpointable: requeues itself with the same configs) of its run's config
    submission = pickle.loads((out / "logs" / "4242_1" / "4242_1_submitted.pkl").read_bytes())
    assert isinstance(submission.function, TrainPack) and [c["seed"] for c in submission.args[0]] == [1]
    again = submission.function.checkpoint(*submission.args)
    assert again.function is submission.function and again.args == submission.args

    states = survey(expand(load_grid(grid), out / "runs"), SweepDir(out))
    assert [(s.state, s.job_state) for s in states] == [
        ("running", "RUNNING"), ("queued", "PENDING"), ("failed", "TIMEOUT"), ("missing", "COMPLETED")]
    capsys.readouterr()
    assert main(["--grid", str(grid), "--launcher", "slurm", "--out", str(out)]) == 0  # resubmits only what is not alive
    assert "to submit: 2 run(s) (1 new, 0 partial, 1 failed" in capsys.readouterr().out
    assert set(json.loads((out / "sweep.json").read_text())["launches"][-1]["jobs"]) == {names[2], names[3]}


def test_slurm_packs_runs_per_gpu_into_one_job(tmp_path: Path, fake_slurm: Path) -> None:
    grid = write_grid(tmp_path / "g.yaml", {"fixed": {"method": "nt"}, "product": {"seed": [0, 1, 2]}})
    out = tmp_path / "sweep"
    assert main(["--grid", str(grid), "--launcher", "slurm", "--out", str(out), "--runs-per-gpu", "2"]) == 0
    assert "#SBATCH --array=0-1%" in (fake_slurm / "submitted.sh").read_text()  # 3 runs in 2 jobs
    jobs = json.loads((out / "sweep.json").read_text())["launches"][-1]["jobs"]
    assert [jobs[f"cifar10_resnet18_nt_s{s}"]["job_id"] for s in range(3)] == ["4242_0", "4242_0", "4242_1"]
    pack = pickle.loads((out / "logs" / "4242_0" / "4242_0_submitted.pkl").read_bytes())
    assert [c["seed"] for c in pack.args[0]] == [0, 1]
    assert pack.args[1] == [{"grid": "g", "seeds": [0, 1, 2]}] * 2  # each run's plan, for its meta.json


def test_slurm_needs_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--grid", "demo", "--launcher", "slurm", "--out", str(tmp_path / "s")]) == 2
    assert "sbatch and srun not found" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_visible_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    assert visible_gpus() == [0, 2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-5f2a")
    with pytest.raises(ValueError, match="indices"):
        visible_gpus()


class EnvJob(submitit.helpers.Checkpointable):
    """Stands in for TrainJob: notes the GPU it was given and when it ran, then marks its run done."""

    def __call__(self, config: dict, plan: dict | None = None) -> str:
        run = Path(config["out_dir"]) / TrainConfig.from_dict(config).run_name
        start = time.time()
        time.sleep(1.5)
        write_json(run / "env.json", {"gpus": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time(),
                                      "plan": plan, "threads": os.environ.get("OMP_NUM_THREADS")})
        write_json(run / "metrics.json", {})
        return str(run)


@pytest.mark.slow
def test_local_launcher_runs_one_job_per_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("atlib.sweep.launch.TrainJob", EnvJob)
    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))  # the jobs unpickle EnvJob from this module
    sweep = SweepDir(tmp_path / "sweep")
    grid = parse_grid({"fixed": {"method": "nt"}, "product": {"seed": [0, 1, 2]}}, name="t")
    configs = expand(grid, sweep.runs)
    sweep.start_launch({"name": "t"}, [c.run_name for c in configs], "local", {})
    outcomes = run_local(sweep, configs, gpus=[3, 5], poll_s=0.1, echo=lambda line: None, plans=run_plans(grid, configs))
    assert outcomes == {c.run_name: "done" for c in configs}
    env = [read_json(sweep.runs / c.run_name / "env.json") for c in configs]
    assert [e["gpus"] for e in env[:2]] == ["3", "5"] and env[2]["gpus"] in ("3", "5")  # one GPU per worker
    overlaps = lambda a, b: a["start"] < b["end"] and b["start"] < a["end"]  # noqa: E731
    assert overlaps(env[0], env[1])  # both GPUs busy at once
    assert not (overlaps(env[2], env[0]) and overlaps(env[2], env[1]))  # never more jobs than GPUs
    gpu_of_third = [e for e in env[:2] if e["gpus"] == env[2]["gpus"]][0]
    assert gpu_of_third["end"] <= env[2]["start"]  # the third run waited for its GPU to be free
    assert set(sweep.latest_jobs()) == {c.run_name for c in configs}
    assert all(e["plan"] == {"grid": "t", "seeds": [0, 1, 2]} for e in env)  # what the grid promised each run


@pytest.mark.slow
def test_local_launcher_runs_k_jobs_per_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--runs-per-gpu 2 on the CPU: two processes share it, the third run waits for a free slot."""
    monkeypatch.setattr("atlib.sweep.launch.TrainJob", EnvJob)
    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))
    sweep = SweepDir(tmp_path / "sweep")
    configs = expand(parse_grid({"fixed": {"method": "nt"}, "product": {"seed": [0, 1, 2]}}, name="t"), sweep.runs)
    sweep.start_launch({"name": "t"}, [c.run_name for c in configs], "local", {})
    outcomes = run_local(sweep, configs, gpus=[], poll_s=0.1, echo=lambda line: None, runs_per_gpu=2)
    assert outcomes == {c.run_name: "done" for c in configs}
    env = [read_json(sweep.runs / c.run_name / "env.json") for c in configs]
    overlaps = lambda a, b: a["start"] < b["end"] and b["start"] < a["end"]  # noqa: E731
    assert overlaps(env[0], env[1]) and min(env[0]["end"], env[1]["end"]) <= env[2]["start"]
    if "OMP_NUM_THREADS" not in os.environ:  # two jobs share the cores: each gets half of them as torch threads
        assert {e["threads"] for e in env} == {str(max(1, (os.cpu_count() or 1) // 2))}
    with pytest.raises(ValueError, match="runs_per_gpu"):
        run_local(sweep, configs, gpus=[], runs_per_gpu=0)


@pytest.mark.slow
def test_a_pack_trains_its_runs_in_parallel_processes(tiny_root: Path, tmp_path: Path) -> None:
    from tinydata import tiny_config

    configs = [tiny_config(tiny_root, tmp_path, seed=s, epochs=1, robust_eval_n=0).to_dict() for s in (0, 1)]
    paths = TrainPack()(configs)
    runs = [load_run(p) for p in paths]
    assert [r.config.seed for r in runs] == [0, 1] and all(r.complete for r in runs)
    assert len({r.meta["started"] for r in runs}) >= 1 and runs[0].probs().shape == runs[1].probs().shape


# ----------------------------------------------------------------------------- local jobs, killed and resumed


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learnable toy CIFAR-10 ImageFolder (class = a bright column) plus a NEG file."""
    root = tmp_path_factory.mktemp("tiny_cifar")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 16), ("test", 4)):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                img = rng.integers(0, 120, size=(32, 32, 3), dtype=np.uint8)
                img[:, 3 * c : 3 * c + 3, :] = 255
                Image.fromarray(img).save(root / split / name / f"{i:04d}.png")
    np.savez(root / "CIFAR10_neg.npz", data=rng.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8), labels=np.arange(10))
    return root


def _tiny_grid(path: Path, root: Path, methods: list[str]) -> Path:
    return write_grid(path, {
        "fixed": {"model": "small_cnn", "epochs": 3, "batch_size": 16, "lr": 0.05, "lr_milestones": [2], "record_per_epoch": 3,
                  "pgd_steps": 1, "robust_eval_n": 8, "robust_eval_steps": 1, "eval_batch_size": 64, "data_root": str(root),
                  "neg_path": str(root / "CIFAR10_neg.npz"), "progress": False},
        "product": {"method": methods, "epsilon_255": [8], "seed": [0]},
    })


def _sweep_cmd(grid: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "atlib.sweep", "--grid", str(grid), "--out", str(out), "--launcher", "local", *extra]


@pytest.mark.slow
def test_local_sweep_killed_and_resumed(tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    at_name, nt_name = "cifar10_small_cnn_at8_s0", "cifar10_small_cnn_nt_s0"
    # reference: the AT run uninterrupted, through the same launcher (in parallel with the rest)
    ref = subprocess.Popen(_sweep_cmd(_tiny_grid(tmp_path / "ref.yaml", tiny_root, ["at"]), tmp_path / "ref"), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    grid, out = _tiny_grid(tmp_path / "g.yaml", tiny_root, ["nt", "at"]), tmp_path / "sweep"
    nt_config = expand(load_grid(grid), out / "runs")[0]
    rng = np.random.default_rng(0)
    nt_metrics = make_run(out / "runs", nt_config, random_probs(rng, 9, 40, 10), rng.integers(0, 10, 40)) / "metrics.json"
    stamp = nt_metrics.stat().st_mtime_ns
    proc = subprocess.Popen(_sweep_cmd(grid, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    index = out / "runs" / at_name / "records" / "index.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:  # kill the sweep while the AT run is part-way
        if index.exists() and json.loads(index.read_text())["count"] >= 3:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep, its job controller and the training process
    proc.wait()
    assert 3 <= RecordStore(index.parent).count < 9, "the AT run must be killed part-way"

    assert main(["--grid", str(grid), "--out", str(out), "--status"]) == 0
    status = capsys.readouterr().out
    assert "2 runs in" in status and "done 1, running 0, failed 1, partial 0, missing 0" in status
    assert f"FAILED {at_name}: job" in status and "(KILLED)" in status

    again = subprocess.run(_sweep_cmd(grid, out), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "to submit: 1 run(s) (0 new, 0 partial, 1 failed" in again.stdout and "finished: 1 done, 0 failed" in again.stdout
    assert nt_metrics.stat().st_mtime_ns == stamp  # the finished run was never retrained
    launches = json.loads((out / "sweep.json").read_text())["launches"]
    assert [sorted(launch["jobs"]) for launch in launches] == [[at_name], [at_name]]

    ref_out, _ = ref.communicate(timeout=300)
    assert ref.returncode == 0 and f"done    {at_name}" in ref_out and "finished: 1 done, 0 failed" in ref_out, ref_out
    full, resumed = load_run(tmp_path / "ref" / "runs" / at_name), load_run(out / "runs" / at_name)
    assert resumed.meta["resumed"] == 1 and run_status(resumed.path) == "done"
    for split in ("test", "neg"):
        np.testing.assert_array_equal(full.probs(split), resumed.probs(split))  # bitwise
    strip = lambda pts: [{k: v for k, v in p.items() if k != "time"} for p in pts]  # noqa: E731
    assert strip(full.records.points) == strip(resumed.records.points)
    assert main(["--grid", str(grid), "--out", str(out), "--status"]) == 0
    assert "done 2, running 0, failed 0" in capsys.readouterr().out
    assert nt_name in status


# ----------------------------------------------------------------------------- render


def test_render_runs_every_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    calls = []
    declared = {"05_profile_explorer": {"runs": "", "export": ""},  # the others take runs and output_dir
                "00_train": {"preset": "", "overrides": "", "output_dir": ""}}  # reads no runs: no report notebook

    def run_notebook(name: str, parameters: dict, output_path: Path) -> Path:
        calls.append((name, parameters, Path(output_path)))
        if name == "03_cifar10_neg":
            raise RuntimeError("cell 4 failed")
        Path(output_path).write_text("{}")
        return Path(output_path)

    monkeypatch.setattr("atlib.notebooks.run_notebook", run_notebook)
    monkeypatch.setattr("atlib.notebooks.load_notebook", lambda name: name)
    monkeypatch.setattr("atlib.notebooks.notebook_parameters", lambda name: declared.get(name, {"runs": "", "output_dir": ""}))
    out = tmp_path / "sweep"
    assert main(["--grid", "demo", "--out", str(out), "--render"]) == 2  # no runs yet
    assert "no runs in" in capsys.readouterr().err
    rng = np.random.default_rng(0)
    make_run(out / "runs", expand(load_grid("demo"), out / "runs")[0], random_probs(rng, 2, 5, 10), rng.integers(0, 10, 5))
    assert main(["--grid", "demo", "--out", str(out), "--render"]) == 1  # one notebook failed, the others ran
    assert [c[0] for c in calls] == ["01_entropy", "02_point_categories", "03_cifar10_neg", "04_synthesized_data", "05_profile_explorer",
                                     "06_claims", "07_training_dynamics"]
    assert calls[0][1] == {"runs": str(out.resolve() / "runs"), "output_dir": str(out.resolve() / "figures" / "01_entropy")}
    assert calls[0][2] == out / "notebooks" / "01_entropy.ipynb" and calls[0][2].exists()
    assert calls[4][1] == {"runs": str(out.resolve() / "runs"),
                           "export": str(out.resolve() / "figures" / "05_profile_explorer" / "explorer.html")}
    text = capsys.readouterr().out
    assert "FAILED   03_cifar10_neg: RuntimeError: cell 4 failed" in text and text.count("rendered ") == 6
    assert text.count("without encryption") == 1  # the kernels' transport, said once


def test_paper_dry_run_names_every_missing_input_with_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture, no_shared_data: None) -> None:
    """On a fresh clone with an empty data folder, the paper grid's dry run says what is missing and where to get it."""
    _forbid_executors(monkeypatch)
    clone, data = tmp_path / "clone", tmp_path / "empty-data"
    clone.mkdir()
    data.mkdir()
    monkeypatch.chdir(clone)
    monkeypatch.setenv("ATLIB_DATA", str(data))
    assert main(["--grid", "paper", "--out", str(tmp_path / "sweep"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    missing = out[out.index("missing inputs"):]
    expected = {  # input -> its source and the command that prepares it
        "cifar10 (data_root=None): runs start without it": "https://www.cs.toronto.edu/~kriz/cifar.html",
        "CIFAR-10-NEG (neg_path=None): runs start without it": "arXiv:2202.09931",
        "CIFAR-10-C (cifar_c_root=auto): needed before launching": "https://zenodo.org/records/2535967 and extract it "
        f"into a data folder, or generate it: python -m atlib corruptions --dataset cifar10 --out {data}/CIFAR-10-C",
        "CIFAR-100-C (cifar_c_root=auto): needed before launching": "https://zenodo.org/records/3555552",
        "synthetic=DM-Improves-AT/cifar10/1m.npz: needed before launching": "download cifar10/1m.npz from "
        f"https://huggingface.co/datasets/P2333/DM-Improves-AT and put it at {data}/DM-Improves-AT/cifar10/1m.npz",
        "synthetic=DM-Improves-AT/cifar100/1m.npz: needed before launching": "download cifar100/1m.npz",
        "cifar100 (data_root=None): runs start without it": "torchvision downloads it",
    }
    entries = missing.split("\n- ")[1:]
    assert len(entries) == len(expected)
    for what, source in expected.items():
        entry = next(e for e in entries if e.startswith(what))
        assert source in entry.split("get it: ")[1].replace("\n", " ")
    assert f"{data} ($ATLIB_DATA)" in missing  # the folders searched
    assert main(["--grid", "paper", "--out", str(tmp_path / "sweep"), "--launcher", "local"]) == 2  # refused
    assert "grid inputs not found: CIFAR-10-C (cifar_c_root=auto)" in capsys.readouterr().err


def test_grid_inputs_are_found_in_the_data_folder(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'auto' CIFAR-C and a relative synthesized path are found under $ATLIB_DATA, from any working directory,
    and a run resolves them to the same files."""
    from atlib.sweep.status import missing_inputs
    from atlib.train.inputs import resolve_inputs

    data = tmp_path / "data"
    (data / "CIFAR-10-C").mkdir(parents=True)
    np.save(data / "CIFAR-10-C" / "labels.npy", np.tile(np.arange(10), 5))
    (data / "gen" / "cifar10").mkdir(parents=True)
    np.savez(data / "gen" / "cifar10" / "1m.npz", image=np.zeros((10, 32, 32, 3), np.uint8), label=np.arange(10))
    monkeypatch.setenv("ATLIB_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    grid = write_grid(tmp_path / "g.yaml", {
        "fixed": {"model": "small_cnn", "data_root": str(tiny_root), "cifar_c_root": "auto"},
        "product": {"synthetic": [None, "gen/{dataset}/1m.npz"], "seed": [0]},
    })
    configs = expand(load_grid(grid), tmp_path / "runs")
    assert missing_inputs(configs) == []
    inputs = resolve_inputs(next(c for c in configs if c.uses_synthetic))
    assert inputs["cifar_c_root"] == str(data.resolve() / "CIFAR-10-C")
    assert inputs["synthetic"]["path"] == str(data.resolve() / "gen" / "cifar10" / "1m.npz")
    (data / "gen" / "cifar10" / "1m.npz").unlink()
    assert [m.what for m in missing_inputs(configs)] == ["synthetic=gen/cifar10/1m.npz"]
    with pytest.raises(FileNotFoundError, match="huggingface.co/datasets/P2333/DM-Improves-AT"):
        resolve_inputs(next(c for c in configs if c.uses_synthetic))


# ----------------------------------------------------------------------------- prepared inputs, progress


def test_prepared_inputs_fill_their_placeholders(tmp_path: Path) -> None:
    grid = parse_grid({"preset": "quick", "prepare": {"standin": 300, "cifar_c": 20},
                       "fixed": {"cifar_c_root": "{cifar_c}"},
                       "product": {"synthetic": [None, "{standin}"], "seed": [0]}}, name="t")
    out = tmp_path / "sweep"
    paths = prepared_inputs(grid, out)
    assert paths == {"standin": out / "data" / "standin_cifar10_300_outside_first_200.npz",
                     "cifar_c": out / "CIFAR-10-C-generated-20"}
    configs = expand(grid, out / "runs")
    assert [c.synthetic for c in configs] == [None, str(paths["standin"])]
    assert {c.cifar_c_root for c in configs} == {str(paths["cifar_c"])}
    from atlib.sweep.status import missing_inputs

    assert not [m for m in missing_inputs(configs, paths.values()) if m.blocking]  # made before launching
    assert {m.what for m in missing_inputs(configs) if m.blocking} == {
        f"synthetic={paths['standin']}", f"CIFAR-10-C (cifar_c_root={paths['cifar_c']})"}
    with pytest.raises(ValueError, match=r"cannot fill placeholder 'standin'.*prepare: section \(standin, cifar_c\)"):
        expand(parse_grid({"product": {"seed": [0]}, "fixed": {"synthetic": "{standin}"}}, name="t"), out / "runs")
    with pytest.raises(ValueError, match="prepare.standin holds real training images out of train_subset"):
        prepared_inputs(parse_grid({"product": {"seed": [0]}, "prepare": {"standin": 5}}, name="t"), out)


def test_progress_prints_each_finished_epoch_with_the_launchs_eta(tmp_path: Path) -> None:
    from atlib.sweep.progress import LaunchProgress, format_duration

    runs = tmp_path / "runs"
    nt = TrainConfig(model="small_cnn", method="nt", epochs=4, record_per_epoch=2, train_subset=100, test_subset=10,
                     out_dir=str(runs))
    at = nt.replace(method="at", epsilon_255=8, pgd_steps=3)  # 4 passes per training image
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10)
    make_run(runs, nt, random_probs(rng, 2, 10, 10), labels, complete=False)  # one epoch done before the launch
    now = [100.0]
    lines: list[str] = []
    progress = LaunchProgress([nt, at], lines.append, clock=lambda: now[0])
    assert progress.eta() is None and "ETA after the first epoch" in progress.status()
    progress.poll(nt)
    assert lines == []  # the epoch done before the launch is not reported again
    shutil.rmtree(runs / nt.run_name)  # the same run further on: 2.5 epochs, epoch 2 ended
    make_run(runs, nt, random_probs(rng, 5, 10, 10), labels, complete=False)
    now[0] = 110.0
    progress.poll(nt)
    work = {c.run_name: epoch_passes(c) for c in (nt, at)}
    left = 2 * work[nt.run_name] + 4 * work[at.run_name]
    assert len(lines) == 1 and lines[0].startswith(f"{nt.run_name}  epoch 2/4  test acc ")
    assert progress.eta() == pytest.approx(left * 10 / work[nt.run_name])
    assert lines[0].endswith(f"(0/2 runs done, ETA {format_duration(progress.eta())})")
    make_run(runs, at, random_probs(rng, 8, 10, 10), labels)  # all 4 epochs at once: one line each
    progress.run_ended(at)
    assert [line.split("  ")[1] for line in lines[1:]] == ["epoch 1/4", "epoch 2/4", "epoch 3/4", "epoch 4/4"]
    assert "1/2 runs done" in progress.status()
    assert [format_duration(s) for s in (45, 720, 7500)] == ["45 s", "12 min", "2 h 05 min"]


def test_each_run_is_told_what_its_grid_promised() -> None:
    grid = load_grid("demo")
    plans = run_plans(grid, expand(grid, "/x/runs"))
    assert plans["cifar10_small_cnn_at2_s1"] == {"grid": "demo", "seeds": [0, 1, 2]}
    assert plans["cifar10_small_cnn_at8_standin0.5_s0"] == {"grid": "demo", "seeds": [0]}  # the stand-in: one seed
    assert len(plans) == 11
