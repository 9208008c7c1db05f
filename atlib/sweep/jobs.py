"""The sweep folder and what submitit knows about its jobs.

``<out>/sweep.json`` records every launch: which submitit job (Slurm job id, or the local
controller's process id) was given which run. ``<out>/logs/<job id>/`` is submitit's job
folder (pickles, ``*_log.out``/``*_log.err``). From these, a job's state is read back in a
later process: alive or not, failed with a traceback, or killed without a result.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from submitit import SlurmJob
from submitit.core.utils import JobPaths

from atlib.store.io import read_json, write_json

# Slurm states of a job that is queued or still going (a requeued job stays the same id).
SLURM_ACTIVE = frozenset({"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED",
                          "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"})


@dataclass(frozen=True)
class Job:
    """One submitted run: ``launcher`` is ``local`` (job_id = controller pid) or ``slurm``."""

    job_id: str
    launcher: str
    submitted: str


@dataclass(frozen=True)
class SweepDir:
    """Layout of a sweep's output folder."""

    out: Path

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    @property
    def job_folder(self) -> Path:
        """submitit's folder pattern: one sub-folder per job id."""
        return self.logs / "%j"

    @property
    def notebooks(self) -> Path:
        """Executed report notebooks (``--render``, the demo)."""
        return self.out / "notebooks"

    @property
    def figures(self) -> Path:
        """The report notebooks' figures, one folder per notebook."""
        return self.out / "figures"

    @property
    def record_path(self) -> Path:
        return self.out / "sweep.json"

    def record(self) -> dict[str, Any]:
        return read_json(self.record_path) if self.record_path.exists() else {"launches": []}

    def start_launch(self, grid: Mapping[str, Any], runs: list[str], launcher: str, options: Mapping[str, Any]) -> None:
        """Append a launch entry (jobs are added to it as they are submitted)."""
        record = self.record()
        record.update(grid=dict(grid), runs=runs)
        record["launches"].append({"started": _now(), "launcher": launcher, "options": dict(options), "jobs": {}})
        write_json(self.record_path, record)

    def add_jobs(self, jobs: Mapping[str, str]) -> None:
        """Record ``run name -> job id`` in the latest launch (atomically rewritten)."""
        record = self.record()
        launch = record["launches"][-1]
        launch["jobs"].update({name: {"job_id": job_id, "submitted": _now()} for name, job_id in jobs.items()})
        write_json(self.record_path, record)

    def latest_jobs(self) -> dict[str, Job]:
        """The most recent job of every run ever submitted from this folder."""
        latest: dict[str, Job] = {}
        for launch in self.record()["launches"]:
            for name, job in launch["jobs"].items():
                latest[name] = Job(job_id=str(job["job_id"]), launcher=launch["launcher"], submitted=job["submitted"])
        return latest


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def job_paths(sweep: SweepDir, job: Job) -> JobPaths:
    return JobPaths(sweep.job_folder, job.job_id, 0)


def job_states(sweep: SweepDir, jobs: Mapping[str, Job]) -> dict[str, str]:
    """``run name -> state``: a Slurm state (``RUNNING``, ``PENDING``, ``FAILED``, ``TIMEOUT``...), or for
    local jobs ``RUNNING``, ``COMPLETED``, ``FAILED`` (a traceback was returned) or ``KILLED`` (no result);
    ``UNKNOWN`` where nothing can tell (e.g. no ``sacct`` on this machine)."""
    states: dict[str, str] = {}
    ask_slurm: dict[str, str] = {}
    for name, job in jobs.items():
        result = _result_state(sweep, job)
        if job.launcher == "local":
            states[name] = "RUNNING" if _local_alive(job.job_id) else result or "KILLED"
        elif result:
            states[name] = result
        else:
            ask_slurm[name] = job.job_id
    states.update(_sacct_states(ask_slurm))
    return {name: states.get(name, "UNKNOWN") for name in jobs}


def _result_state(sweep: SweepDir, job: Job) -> str | None:
    """What the job's result pickle says: it is written when the job function returns or raises."""
    path = job_paths(sweep, job).result_pickle
    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            outcome = pickle.load(f)[0]
    except (OSError, EOFError, pickle.UnpicklingError, IndexError, TypeError):
        return None
    return "COMPLETED" if outcome == "success" else "FAILED"


def _local_alive(job_id: str) -> bool:
    """Whether the local controller process still runs (and is a submitit controller, not a reused pid)."""
    if Path("/proc/self").exists():
        try:
            return b"submitit" in Path(f"/proc/{job_id}/cmdline").read_bytes()
        except OSError:
            return False
    try:
        os.kill(int(job_id), 0)
    except (OSError, ValueError):
        return False
    return True


def _sacct_states(job_ids: Mapping[str, str]) -> dict[str, str]:
    """Slurm states through submitit's watcher (one ``sacct`` call for all jobs)."""
    if not job_ids or shutil.which("sacct") is None:
        return {}
    watcher = SlurmJob.watcher
    for job_id in job_ids.values():
        watcher.register_job(job_id)
    watcher.update()
    return {name: watcher.get_state(job_id, mode="cache").split()[0].upper() for name, job_id in job_ids.items()}


def log_tail(sweep: SweepDir, job: Job, lines: int = 12) -> tuple[Path, list[str]]:
    """The last lines of the job's stderr, or of its stdout where stderr is empty (a killed job leaves no
    traceback); progress-bar carriage returns split into lines."""
    paths = job_paths(sweep, job)
    for path in (paths.stderr, paths.stdout):
        rows = _tail(path, lines)
        if rows:
            return path, rows
    return paths.stderr, []


def _tail(path: Path, lines: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return [row.rstrip() for row in text.replace("\r", "\n").split("\n") if row.strip()][-lines:]
