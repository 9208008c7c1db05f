"""What a local launch prints while its runs train: one line per finished epoch of any run, with the ETA of
the whole launch, read from the run folders (the jobs themselves run with their progress bars off, and
their output goes to their job logs, so parallel runs never interleave on the terminal).

The ETA is the work left (epochs, weighted by :func:`atlib.sweep.estimate.epoch_passes`) divided by the
rate measured since the launch started; it covers the runs' evaluations only as far as they slowed that rate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from atlib.config import TrainConfig
from atlib.store.runs import load_runs
from atlib.sweep.estimate import epoch_passes


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


class LaunchProgress:
    """Epochs done by the runs of one launch, and the lines that report them."""

    def __init__(self, configs: Sequence[TrainConfig], echo: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.time) -> None:
        self.configs = {c.run_name: c for c in configs}
        self.echo, self.clock = echo, clock
        self.start = clock()
        self.epochs = {name: self._stored_epochs(c) for name, c in self.configs.items()}  # whole epochs recorded
        self.first = dict(self.epochs)  # those were done before this launch
        self.finished: set[str] = set()

    @staticmethod
    def _stored_epochs(config: TrainConfig) -> int:
        runs = load_runs(Path(config.out_dir) / config.run_name)
        return runs[0].num_points // config.record_per_epoch if runs else 0

    def _work(self, name: str, epochs: int) -> float:
        return epochs * epoch_passes(self.configs[name])

    def eta(self) -> float | None:
        """Seconds until every run of the launch has trained, at the rate measured so far (None before any epoch)."""
        done = sum(self._work(n, self.epochs[n] - self.first[n]) for n in self.configs)
        left = sum(self._work(n, c.epochs - self.epochs[n]) for n, c in self.configs.items() if n not in self.finished)
        elapsed = self.clock() - self.start
        return left * elapsed / done if done > 0 else None

    def poll(self, config: TrainConfig) -> None:
        """Report every epoch ``config``'s run has finished since the last poll."""
        name = config.run_name
        runs = load_runs(Path(config.out_dir) / name)
        if not runs:
            return
        run = runs[0]
        whole = run.num_points // config.record_per_epoch
        points = run.records.points
        for epoch in range(self.epochs[name] + 1, whole + 1):
            self.epochs[name] = epoch
            accuracy = points[epoch * config.record_per_epoch - 1]["test_acc"]
            self.echo(f"{name}  epoch {epoch}/{config.epochs}  test acc {100 * accuracy:.1f}%  ({self.status()})")

    def run_ended(self, config: TrainConfig) -> None:
        """A run's job ended (finished or failed): it has no work left."""
        self.poll(config)
        self.finished.add(config.run_name)

    def status(self) -> str:
        """``3/8 runs done, ETA 6 min``."""
        eta = self.eta()
        left = "ETA after the first epoch" if eta is None else f"ETA {format_duration(eta)}"
        return f"{len(self.finished)}/{len(self.configs)} runs done, {left}"
