"""Where every run of a sweep stands, from its run folder and its latest job, and the tables
``--dry-run`` and ``--status`` print.

States: ``done`` (metrics written), ``running``/``queued`` (a live job, or progress written in
the last minutes by a run outside the sweep), ``failed`` (its latest job ended without
finishing the run: a traceback, a Slurm failure/timeout/cancel, or a killed process),
``partial`` (a checkpoint to resume from, no job), ``missing`` (never started) and
``conflict`` (the folder holds a run with a different config: the sweep will not touch it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

from atlib.config import TrainConfig
from atlib.datasets import dataset_info
from atlib.store.runs import recorded_points, run_status, stored_config
from atlib.setting import Setting
from atlib.sweep.estimate import Throughput, run_hours
from atlib.sweep.jobs import SLURM_ACTIVE, Job, SweepDir, job_states, log_tail

STATES = ("done", "running", "queued", "failed", "partial", "missing", "conflict")
TO_SUBMIT = ("missing", "partial", "failed")


@dataclass
class RunState:
    config: TrainConfig
    state: str
    job: Job | None = None
    job_state: str | None = None
    points: int = 0  # record points stored
    detail: str = ""  # why a run conflicts

    @property
    def name(self) -> str:
        return self.config.run_name

    @property
    def path(self) -> Path:
        return Path(self.config.out_dir) / self.name

    @property
    def total_points(self) -> int:
        return self.config.epochs * self.config.record_per_epoch

    @property
    def remaining(self) -> float:
        return 1.0 - self.points / self.total_points


def survey(configs: Sequence[TrainConfig], sweep: SweepDir) -> list[RunState]:
    """The state of every run of the grid (in grid order)."""
    latest = sweep.latest_jobs()
    jobs = {c.run_name: latest[c.run_name] for c in configs if c.run_name in latest}
    states = job_states(sweep, jobs)
    return [_classify(c, jobs.get(c.run_name), states.get(c.run_name)) for c in configs]


def _classify(config: TrainConfig, job: Job | None, job_state: str | None) -> RunState:
    path = Path(config.out_dir) / config.run_name
    stored = stored_config(path)
    conflicts = config.conflicts_with(stored) if stored is not None else {}
    if conflicts:
        detail = ", ".join(f"{k}: stored {old!r}, grid {new!r}" for k, (old, new) in sorted(conflicts.items()))
        return RunState(config, "conflict", job, job_state, _points(path), detail)
    return RunState(config, _state(run_status(path), job_state), job, job_state, _points(path))


def _state(folder: str, job_state: str | None) -> str:
    """Combine the run folder's status with its latest job's state (the job knows best whether it still runs)."""
    if folder == "done":
        return "done"
    if job_state in SLURM_ACTIVE:  # local jobs report RUNNING too
        return "queued" if job_state == "PENDING" else "running"
    if job_state not in (None, "UNKNOWN", "COMPLETED"):
        return "failed"
    return folder


def _points(path: Path) -> int:
    return recorded_points(path)


def counts(states: Sequence[RunState]) -> dict[str, int]:
    found = Counter(s.state for s in states)
    return {state: found.get(state, 0) for state in STATES}


def conflicts_message(states: Sequence[RunState]) -> str:
    lines = [f"  {s.path}: {s.detail}" for s in states if s.state == "conflict"]
    return ("run folders hold runs with a different config (the sweep will not overwrite them):\n" + "\n".join(lines)
            + "\nchoose another --out, or delete those folders to retrain them") if lines else ""


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> list[str]:
    """Plain-text columns: the first ``left`` columns left-aligned, the rest right-aligned."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]


def summary_line(states: Sequence[RunState]) -> str:
    found = counts(states)
    return ", ".join(f"{k} {v}" for k, v in found.items() if v or k in ("done", "running", "failed", "partial", "missing"))


def format_plan(states: Sequence[RunState], throughput: Throughput) -> str:
    """The ``--dry-run`` table: one row per group of seeds, what will be submitted, and the estimate."""
    groups: dict[tuple, list[RunState]] = {}
    for s in states:
        groups.setdefault(Setting.of(s.config), []).append(s)
    rows, total, todo_hours = [], Counter(), 0.0
    for members in groups.values():
        c = Counter(s.state for s in members)
        hours = sum(run_hours(s.config, throughput, s.remaining) for s in members if s.state in TO_SUBMIT)
        todo_hours += hours
        total.update(c)
        first = members[0].config
        rows.append([f"{first.dataset} {first.model} {Setting.of(first).label}", " ".join(str(s.config.seed) for s in members),
                     c["missing"], c["partial"], c["failed"], c["running"] + c["queued"], c["done"], c["conflict"], f"{hours:.3g}"])
    rows.append(["total", "", total["missing"], total["partial"], total["failed"], total["running"] + total["queued"],
                 total["done"], total["conflict"], f"{todo_hours:.3g}"])
    whole = sum(run_hours(s.config, throughput) for s in states)
    submit = sum(total[k] for k in TO_SUBMIT)
    lines = _table(["group", "seeds", "new", "partial", "failed", "running", "done", "conflict", "hours"], rows, left=2)
    lines += [
        f"to submit: {submit} run(s) ({total['missing']} new, {total['partial']} partial, {total['failed']} failed: "
        f"partial and failed runs resume from their checkpoint); skipped: {total['done']} done, "
        f"{total['running'] + total['queued']} running or queued, {total['conflict']} conflicting",
        f"estimate: {todo_hours:,.3g} device-hours for the runs to submit ({whole:,.3g} for the whole grid), one device per run",
        f"  throughput {throughput.describe(sorted({s.config.model for s in states}))}",
    ]
    return "\n".join(lines)


def format_status(states: Sequence[RunState], sweep: SweepDir, tail: int = 12) -> str:
    """The ``--status`` table, then the last log lines of every failed run."""
    rows = [[s.name, s.state, f"{s.points}/{s.total_points}", s.job.job_id if s.job else "-", s.job_state or "-"] for s in states]
    lines = [f"{len(states)} runs in {sweep.runs}: {summary_line(states)}"]
    lines += _table(["run", "state", "points", "job", "job state"], rows)
    for s in states:
        if s.state == "failed" and s.job is not None:
            path, log = log_tail(sweep, s.job, tail)
            where = f"last lines of {path}:" if log else f"nothing logged in {path.parent}"
            lines += ["", f"FAILED {s.name}: job {s.job.job_id} ({s.job_state}) at {s.points}/{s.total_points} points; {where}"]
            lines += [f"  | {row}" for row in log]
        elif s.state == "conflict":
            lines += ["", f"CONFLICT {s.name}: {s.detail}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class MissingInput:
    """An input some runs of a grid need that is not found here, and where to get it."""

    what: str  # the input, as the grid names it
    source: str  # where to get it, and the command that prepares it
    blocking: bool  # True: launching is refused; False: runs start without it (downloaded, or not recorded)


def missing_inputs(configs: Sequence[TrainConfig], prepared: Collection[str | Path] = ()) -> list[MissingInput]:
    """Every input of the grid's runs that the data search rule does not find here (checked before anything is
    submitted): the dataset (downloaded by torchvision when online), CIFAR-10-NEG, the synthesized set, CIFAR-C.
    ``prepared`` are the paths the grid makes itself before launching (its ``prepare:`` section): never missing."""
    made = {str(p) for p in prepared}
    from atlib.data.extra import locate_cifar10_neg, resolve_cifar_c
    from atlib.data.load import locate_dataset
    from atlib.data.sources import WHERE_TO_GET, candidate_roots, find_path

    root = candidate_roots(None)[0].path  # where a download is best put: $ATLIB_DATA, else ./data
    found: dict[str, MissingInput] = {}
    for c in configs:
        info = dataset_info(c.dataset)
        try:
            _, data_root = locate_dataset(c.dataset, "train", root=c.data_root, download=False)
        except FileNotFoundError:
            data_root = None
            found.setdefault(c.dataset, MissingInput(f"{c.dataset} (data_root={c.data_root})", info.source, False))
        if info.has_neg:
            try:
                locate_cifar10_neg(c.neg_path, root=data_root)
            except FileNotFoundError:
                found.setdefault("neg", MissingInput(f"CIFAR-10-NEG (neg_path={c.neg_path})", WHERE_TO_GET["neg"], c.neg_path is not None))
        if c.uses_synthetic and c.synthetic not in made and find_path(c.synthetic) is None:
            what = f"synthetic={c.synthetic}"
            found.setdefault(what, MissingInput(what, WHERE_TO_GET["synthetic"].format(dataset=c.dataset, where=root / c.synthetic), True))
        if c.cifar_c_root is not None and c.cifar_c_root not in made:
            try:
                resolve_cifar_c(c.dataset, c.cifar_c_root)
            except FileNotFoundError:
                what = f"{info.corrupted} (cifar_c_root={c.cifar_c_root})"
                source = WHERE_TO_GET["cifar_c"].format(cifar_c=info.corrupted, url=info.corrupted_url,
                                                        dataset=c.dataset, root=root)
                found.setdefault(what, MissingInput(what, source, True))
    return list(found.values())


def format_missing(missing: Sequence[MissingInput]) -> str:
    """The ``--dry-run`` list of missing inputs, each with its source, and the folders searched."""
    from atlib.data.sources import candidate_roots, describe_roots

    lines = ["missing inputs (relative paths and 'auto' are looked for in these data folders, in order):",
             describe_roots(candidate_roots(None))]
    for m in missing:
        effect = "needed before launching" if m.blocking else "runs start without it"
        lines += [f"- {m.what}: {effect}", f"    get it: {m.source}"]
    return "\n".join(lines)
