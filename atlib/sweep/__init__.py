"""Sweeps: the paper's whole grid of runs on a Slurm cluster or on local GPUs/CPU, resumable.

``python -m atlib.sweep --grid paper --launcher slurm`` expands ``grids/paper.yaml`` into
TrainConfigs (:mod:`.grid`), skips runs that are done or still running (:mod:`.status`),
submits the rest through submitit (:mod:`.launch`); ``--status`` and ``--render``
(:mod:`.report`) follow up. Nothing here imports torch: only the jobs do.
"""

from atlib.sweep.estimate import Throughput, load_throughput, run_hours
from atlib.sweep.grid import Grid, SlurmOptions, expand, load_grid, parse_grid, prepared_inputs, resolve_grid
from atlib.sweep.jobs import Job, SweepDir, job_states, log_tail
from atlib.sweep.launch import TrainJob, TrainPack, launch_local, run_local, submit_slurm, visible_gpus
from atlib.sweep.report import render
from atlib.sweep.status import RunState, format_plan, format_status, survey

__all__ = [
    "Grid", "Job", "RunState", "SlurmOptions", "SweepDir", "Throughput", "TrainJob", "TrainPack", "expand",
    "format_plan", "format_status", "job_states", "launch_local", "load_grid", "load_throughput", "log_tail", "parse_grid",
    "prepared_inputs", "render", "resolve_grid", "run_hours", "run_local", "submit_slurm", "survey", "visible_gpus",
]
