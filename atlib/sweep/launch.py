"""Submitting runs with submitit: a Slurm job array, or local worker processes (K per GPU).

Every job calls :func:`atlib.train.train`, which resumes from the run folder's checkpoint, so
a job that is preempted, hits its time limit, is killed or is simply submitted again loses at
most the work since the run's last record point.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import submitit

from atlib.config import TrainConfig
from atlib.store.runs import run_status
from atlib.sweep.estimate import epoch_passes
from atlib.sweep.grid import GRIDS_DIR, Grid, SlurmOptions, run_plans
from atlib.sweep.jobs import Job, SweepDir, log_tail
from atlib.sweep.progress import LaunchProgress

REPO_ROOT = GRIDS_DIR.parent
LOCAL_TIMEOUT_MIN = 60 * 24 * 30  # local jobs have no time limit worth enforcing


class TrainJob(submitit.helpers.Checkpointable):
    """One run as a submitit callable.

    On preemption or time-out submitit calls the inherited ``checkpoint(config)``, which
    returns ``DelayedSubmission(self, config)`` (this same call) and requeues it; ``train``
    then resumes from the run folder's checkpoint.
    """

    def __call__(self, config: dict[str, Any], plan: dict[str, Any] | None = None) -> str:
        from atlib.train import train  # torch is imported in the job, never in the launcher

        return str(train(TrainConfig.from_dict(config), plan=plan).path)


class TrainPack(submitit.helpers.Checkpointable):
    """Several runs sharing one GPU job, one process each (``--runs-per-gpu K`` on Slurm). Each run keeps
    its own folder, checkpoint and resume; a requeued pack restarts all of them, and the finished
    ones return at once. Raises after all have ended if any failed."""

    def __call__(self, configs: list[dict[str, Any]], plans: list[dict[str, Any] | None] | None = None) -> list[str]:
        plans = plans or [None] * len(configs)
        if len(configs) == 1:
            return [TrainJob()(configs[0], plans[0])]
        with ProcessPoolExecutor(max_workers=len(configs), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(TrainJob(), config, plan) for config, plan in zip(configs, plans)]
            outcomes = [(config, future.exception(), future) for config, future in zip(configs, futures)]
        failed = [f"{TrainConfig.from_dict(c).run_name}: {err!r}" for c, err, _ in outcomes if err is not None]
        if failed:
            raise RuntimeError("runs of this pack failed: " + "; ".join(failed))
        return [future.result() for _, _, future in outcomes]


@contextlib.contextmanager
def _atlib_importable() -> Iterator[None]:
    """Jobs unpickle TrainJob, so atlib must be importable from wherever they start: the
    environment is inherited by local jobs and exported by sbatch."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), before]))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before


def require_slurm() -> None:
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if missing:
        raise FileNotFoundError(f"{' and '.join(missing)} not found: --launcher slurm needs a Slurm submission host; "
                                "use --launcher local here")


def submit_slurm(sweep: SweepDir, configs: Sequence[TrainConfig], options: SlurmOptions, name: str,
                 plans: Mapping[str, dict[str, Any]] | None = None) -> list[str]:
    """Submit ``configs`` as one Slurm job array, ``options.runs_per_gpu`` runs per job, each run with its
    ``plans`` entry (:func:`~atlib.sweep.grid.run_plans`); returns the job ids, one per run (runs packed
    together share one; recorded in sweep.json)."""
    require_slurm()
    executor = submitit.AutoExecutor(folder=sweep.job_folder, cluster="slurm", slurm_max_num_timeout=options.max_requeues)
    executor.update_parameters(
        name=f"atlib-{name}", timeout_min=options.time_min, gpus_per_node=options.gpus or None, cpus_per_task=options.cpus,
        mem_gb=options.mem_gb, slurm_partition=options.partition, slurm_account=options.account, slurm_qos=options.qos,
        slurm_constraint=options.constraint, slurm_array_parallelism=options.array_parallelism,
    )
    k = options.runs_per_gpu
    packs = [list(configs[i : i + k]) for i in range(0, len(configs), k)]
    with _atlib_importable():
        jobs = executor.map_array(TrainPack(), [[c.to_dict() for c in pack] for pack in packs],
                                  [[(plans or {}).get(c.run_name) for c in pack] for pack in packs])
    ids = [job.job_id for job, pack in zip(jobs, packs) for _ in pack]
    sweep.add_jobs({c.run_name: job_id for c, job_id in zip(configs, ids)})
    return ids


def visible_gpus() -> list[int]:
    """GPU indices the local launcher may use: ``CUDA_VISIBLE_DEVICES`` if set, else every GPU nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        items = [item.strip() for item in env.split(",") if item.strip()]
        if not all(item.isdigit() for item in items):
            raise ValueError(f"CUDA_VISIBLE_DEVICES={env!r}: the local launcher needs GPU indices (e.g. 0,1), not UUIDs")
        return [int(item) for item in items]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(range(sum(1 for line in out.splitlines() if line.startswith("GPU "))))


@contextlib.contextmanager
def _cpu_threads(slots: int) -> Iterator[None]:
    """Jobs sharing the CPU get an equal share of its cores as torch threads (``OMP_NUM_THREADS``, inherited by
    local jobs), unless the user chose a number: more threads than cores make every job wait on the others."""
    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // slots))
    try:
        yield
    finally:
        os.environ.pop("OMP_NUM_THREADS")


def run_local(sweep: SweepDir, configs: Sequence[TrainConfig], gpus: Sequence[int], poll_s: float = 1.0,
              echo: Callable[[str], None] = print, runs_per_gpu: int = 1,
              plans: Mapping[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Run ``configs`` as submitit local jobs (each with its ``plans`` entry, see
    :func:`~atlib.sweep.grid.run_plans`), ``runs_per_gpu`` at a time per GPU (or on the CPU, sharing its
    cores), longest first so that the last to start is a short one, and wait for all of them, printing a line
    per finished epoch of any run (:class:`~atlib.sweep.progress.LaunchProgress`). Returns
    ``run name -> 'done' | 'failed'``."""
    if runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu must be >= 1, got {runs_per_gpu}")
    executor = submitit.LocalExecutor(folder=sweep.job_folder)
    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
    queue = deque(sorted(configs, key=lambda c: -c.epochs * epoch_passes(c)))  # stable: grid order among equals
    running, outcomes = {}, {}
    progress = LaunchProgress(configs, echo)
    slots: list[tuple[int | None, int]] = [(gpu, k) for gpu in (list(gpus) or [None]) for k in range(runs_per_gpu)]
    threads = contextlib.nullcontext() if gpus else _cpu_threads(len(slots))
    try:
        with _atlib_importable(), threads:
            while queue or running:
                for slot in [s for s in slots if s not in running][: len(queue)]:
                    config, gpu = queue.popleft(), slot[0]
                    executor.update_parameters(gpus_per_node=0 if gpu is None else 1, visible_gpus=() if gpu is None else (gpu,))
                    job = executor.submit(TrainJob(), config.to_dict(), (plans or {}).get(config.run_name))
                    sweep.add_jobs({config.run_name: job.job_id})
                    running[slot] = (config, job)
                    echo(f"started {config.run_name} (job {job.job_id}{'' if gpu is None else f', GPU {gpu}'})")
                for slot, (config, job) in list(running.items()):
                    if job.done():
                        del running[slot]
                        progress.run_ended(config)
                        outcomes[config.run_name] = _finished(sweep, config, job.job_id, echo, progress.status())
                    else:
                        progress.poll(config)
                time.sleep(poll_s if running else 0)
    except KeyboardInterrupt:
        for _, job in running.values():
            job.cancel()
        raise
    return outcomes


def launch_local(sweep: SweepDir, grid: Grid, configs: Sequence[TrainConfig], todo: Sequence[TrainConfig],
                 gpus: Sequence[int] | None = None, runs_per_gpu: int = 1, echo: Callable[[str], None] = print) -> dict[str, str]:
    """Record a local launch of ``todo`` (runs of ``grid``, which expands to ``configs``) in sweep.json and run it
    with :func:`run_local` on ``gpus`` (default: the visible ones; none: the CPU), each run told the grid's plan."""
    gpus = visible_gpus() if gpus is None else list(gpus)
    sweep.start_launch(grid.info(), [c.run_name for c in configs], "local", {"gpus": gpus})
    return run_local(sweep, todo, gpus, echo=echo, runs_per_gpu=runs_per_gpu, plans=run_plans(grid, list(configs)))


def _finished(sweep: SweepDir, config: TrainConfig, job_id: str, echo: Callable[[str], None], status: str) -> str:
    if run_status(Path(config.out_dir) / config.run_name) == "done":
        echo(f"done    {config.run_name}  ({status})")
        return "done"
    path, rows = log_tail(sweep, Job(job_id, "local", ""), 8)
    echo("\n".join([f"FAILED  {config.run_name} (job {job_id}); last lines of {path}:"] + [f"  | {row}" for row in rows]))
    return "failed"
