"""CLI: ``python -m atlib.sweep --grid paper|demo|FILE --launcher slurm|local [--dry-run|--status|--render] [--out DIR]``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from atlib.cli import command
from atlib.config import TrainConfig
from atlib.sweep.estimate import load_throughput
from atlib.sweep.grid import Grid, SlurmOptions, builtin_grids, expand, load_grid, prepared_inputs, run_plans, slurm_options
from atlib.sweep.jobs import SweepDir
from atlib.sweep.launch import launch_local, require_slurm, submit_slurm, visible_gpus
from atlib.sweep.prepare import prepare_inputs
from atlib.sweep.report import render
from atlib.sweep.status import (TO_SUBMIT, conflicts_message, format_missing, format_plan, format_status, missing_inputs,
                                 summary_line, survey)


SLURM_HELP = {
    "partition": "Slurm partition", "account": "account to charge", "qos": "quality of service",
    "constraint": "node features, e.g. a100", "time_min": "time limit per job in minutes (past it: requeued, resumes)",
    "gpus": "GPUs per job: 1, or 0 for CPU nodes", "cpus": "CPUs per job", "mem_gb": "memory per job in GB",
    "runs_per_gpu": "runs sharing one GPU (one process each): packed into one Slurm job, or K local workers per GPU",
    "array_parallelism": "runs of the array running at once", "max_requeues": "time-limit requeues allowed per run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m atlib.sweep", description="Run a grid of training runs on Slurm or local GPUs/CPU; resumable.",
        epilog="Runs live in <out>/runs, submitit job folders and logs in <out>/logs/<job id>, job ids in <out>/sweep.json.",
    )
    parser.add_argument("--grid", required=True, help=f"a built-in grid ({', '.join(builtin_grids())}) or a YAML/JSON grid file")
    parser.add_argument("--launcher", choices=("slurm", "local"), help="where to run (needed to launch; optional otherwise)")
    parser.add_argument("--out", type=Path, help="sweep folder (default outputs/sweeps/<grid name>)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan and the estimate; submit nothing")
    mode.add_argument("--status", action="store_true", help="table of done/running/failed/missing runs, with failed jobs' log tails")
    mode.add_argument("--render", action="store_true", help="execute the report notebooks over the runs into <out>/notebooks/ (figures in <out>/figures/)")
    slurm = parser.add_argument_group("job options (override the grid file's slurm: section; --runs-per-gpu also applies to --launcher local)")
    defaults = SlurmOptions()
    for f in dataclasses.fields(SlurmOptions):
        kind = {"int": int, "float": float}.get(str(f.type), str)
        slurm.add_argument("--" + f.name.replace("_", "-"), type=kind, default=None,
                           help=f"{SLURM_HELP[f.name]} (default {getattr(defaults, f.name)})")
    return parser


@command
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    grid = load_grid(args.grid)
    sweep = SweepDir(args.out or Path("outputs/sweeps") / grid.name)
    options = slurm_options(grid, {f.name: getattr(args, f.name) for f in dataclasses.fields(SlurmOptions)})
    configs = expand(grid, sweep.runs)
    states = survey(configs, sweep)
    if args.render:
        print(f"rendering sweep {grid.name} ({summary_line(states)}) into {sweep.notebooks}")
        results = render(sweep)
        return 0 if all(isinstance(r, Path) for r in results.values()) else 1
    if args.status:
        print(f"sweep {grid.name} ({sweep.out})")
        print(format_status(states, sweep))
        return 0
    print(_header(grid, len(configs), sweep))
    print(format_plan(states, load_throughput()))
    prepared = prepared_inputs(grid, sweep.out)
    if prepared:
        print("made before launching (kept once made): " + ", ".join(f"{k} {p}" for k, p in prepared.items()))
    missing = missing_inputs(configs, prepared.values())
    if missing:
        print(format_missing(missing))
    todo = [s.config for s in states if s.state in TO_SUBMIT]
    if args.dry_run:
        if args.launcher:
            print(f"would {_launcher_plan(args.launcher, len(todo), options, sweep)}")
        print("dry run: nothing submitted")
        return 0
    if args.launcher is None:
        raise ValueError("choose --launcher slurm or --launcher local (or --dry-run / --status / --render)")
    if conflicts_message(states):
        raise ValueError(conflicts_message(states))
    blocking = [m.what for m in missing if m.blocking]
    if blocking:
        raise FileNotFoundError("grid inputs not found: " + ", ".join(blocking) + "; --dry-run says where to get each")
    if not todo:
        print("nothing to submit")
        return 0
    if args.launcher == "slurm":
        require_slurm()  # before anything is written
    prepare_inputs(grid, sweep.out)
    return _launch(args, grid, sweep, configs, todo, options)


def _launch(args: argparse.Namespace, grid: Grid, sweep: SweepDir, configs: list[TrainConfig], todo: list[TrainConfig],
            options: SlurmOptions) -> int:
    """Submit ``todo``; the slurm launcher returns at once, the local one when every job has ended."""
    print(_launcher_plan(args.launcher, len(todo), options, sweep))
    if args.launcher == "slurm":
        sweep.start_launch(grid.info(), [c.run_name for c in configs], "slurm", dataclasses.asdict(options))
        ids = submit_slurm(sweep, todo, options, grid.name, run_plans(grid, configs))
        print(f"submitted {len(ids)} job(s): {ids[0]}{f' .. {ids[-1]}' if len(ids) > 1 else ''}; "
              f"follow with: python -m atlib.sweep --grid {args.grid} --out {sweep.out} --status")
        return 0
    try:
        outcomes = launch_local(sweep, grid, configs, todo, runs_per_gpu=options.runs_per_gpu)
    except KeyboardInterrupt:
        print("interrupted: running jobs were stopped; run the same command again to resume them", file=sys.stderr)
        return 130
    failed = sorted(name for name, outcome in outcomes.items() if outcome != "done")
    print(f"finished: {len(outcomes) - len(failed)} done, {len(failed)} failed" + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


def _header(grid: Grid, n_runs: int, sweep: SweepDir) -> str:
    preset = f", preset {grid.preset}" if grid.preset else ""
    return f"grid {grid.name} ({grid.path}{preset}): {n_runs} runs in {sweep.runs}"


def _launcher_plan(launcher: str, n_runs: int, options: SlurmOptions, sweep: SweepDir) -> str:
    if launcher == "slurm":
        resources = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(options).items() if v is not None)
        jobs = -(-n_runs // options.runs_per_gpu)
        return f"submit {n_runs} run(s) as one Slurm job array of {jobs} job(s) ({resources}); logs in {sweep.job_folder}"
    gpus, k = visible_gpus(), options.runs_per_gpu
    at_once = "one at a time" if k == 1 else f"{k} at a time"
    where = f"{at_once} on each of GPUs {','.join(map(str, gpus))}" if gpus else f"{at_once} on the CPU (no GPU visible)"
    return f"run {n_runs} run(s) as local submitit jobs, {where}; logs in {sweep.job_folder}"


if __name__ == "__main__":
    sys.exit(main())
