"""The on-disk run store and its readers: the contract between training and analysis.

A run folder ``outputs/runs/<name>/`` holds ``config.json``, ``meta.json``, ``progress.json``,
``records/`` (see :mod:`atlib.store.records`), ``checkpoint.pt`` and, once finished, ``metrics.json``.
Reading a run needs NumPy only: no torch, no GPU, no model.
"""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from atlib.config import TrainConfig
from atlib.store.dynamics import DynamicsStore
from atlib.store.io import read_json
from atlib.store.records import RecordStore
from atlib.setting import Setting

CONFIG, META, METRICS, PROGRESS, CHECKPOINT, RECORDS = (
    "config.json", "meta.json", "metrics.json", "progress.json", "checkpoint.pt", "records",
)
RUNNING_WITHIN_S = 15 * 60  # a run whose progress was written this recently counts as running


@dataclass
class Run:
    """One training run as stored on disk."""

    path: Path
    config: TrainConfig
    meta: dict[str, Any]
    metrics: dict[str, Any]
    records: RecordStore

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def complete(self) -> bool:
        return bool(self.metrics)

    @property
    def setting(self) -> Setting:
        return Setting.of(self.config)

    @property
    def label(self) -> str:
        """Human-readable label for legends, e.g. ``AT ε=8/255 + synth``."""
        return self.setting.label

    @property
    def num_points(self) -> int:
        return self.records.count

    def probs(self, split: str = "test") -> np.ndarray:
        """(T, N, C) float16 probabilities, memory-mapped."""
        return self.records.probs(split)

    def labels(self, split: str = "test") -> np.ndarray:
        return self.records.labels(split)

    def has(self, split: str) -> bool:
        return split in self.records.sets

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs the run was trained on, resolved once at its start (meta.json ``inputs``: ``cifar_root``,
        ``neg_path``, ``synthetic``, ``cifar_c_root``). Runs from before they were recorded fall back to
        their config's paths, which ``atlib.data`` then searches as usual."""
        config = self.config
        return self.meta.get("inputs") or {"cifar_root": config.data_root, "neg_path": config.neg_path,
                                           "synthetic": None, "cifar_c_root": config.cifar_c_root}

    @cached_property
    def dynamics(self) -> DynamicsStore | None:
        """Training-set statistics recorded during training (``dynamics/``), or None for a run without them
        (read once, like the records' index at :func:`load_run`)."""
        folder = self.path / "dynamics"
        return DynamicsStore(folder) if (folder / "index.json").exists() else None

    def test_index(self) -> np.ndarray:
        """Rows of the dataset's full test set that this run evaluated (all of them without a subset)."""
        return np.load(self.records.folder / "test_index.npy")

    def probe_index(self) -> np.ndarray:
        """Rows of the run's training set (hence columns of :attr:`dynamics`) recorded as the ``probe`` split."""
        return np.load(self.records.folder / "probe_index.npy")

    def point_values(self, key: str) -> np.ndarray:
        """One field of every record point as a float array (NaN where absent), e.g. ``test_acc``."""
        return np.array([np.nan if p.get(key) is None else p[key] for p in self.records.points], dtype=np.float64)

    @property
    def epochs(self) -> np.ndarray:
        """Fractional epoch of each record point (e.g. 0.5, 1.0 with two points per epoch)."""
        return self.point_values("epoch")


def load_run(path: str | Path) -> Run:
    """Read a run folder. Raises FileNotFoundError if it holds no config or no records."""
    path = Path(path)
    if not (path / CONFIG).exists():
        raise FileNotFoundError(f"{path} is not a run folder (no {CONFIG})")
    config = TrainConfig.from_dict(read_json(path / CONFIG))
    meta = read_json(path / META) if (path / META).exists() else {}
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else {}
    return Run(path=path, config=config, meta=meta, metrics=metrics, records=RecordStore(path / RECORDS))


def find_run_dirs(pattern: str | Path | Sequence[str | Path]) -> list[Path]:
    """Run folders matching a glob, a folder of runs, a run folder, or a list of those."""
    if isinstance(pattern, (list, tuple)):
        return sorted({p for item in pattern for p in find_run_dirs(item)})
    path = Path(pattern)
    if (path / CONFIG).exists():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if (p / CONFIG).exists())
    return sorted(Path(p) for p in glob.glob(str(pattern)) if (Path(p) / CONFIG).exists())


def load_runs(pattern: str | Path | Sequence[str | Path], require_records: bool = True,
              skipped: list[str] | None = None) -> list[Run]:
    """Load every run matching ``pattern``; runs with no record point yet are skipped unless asked for.

    With a ``skipped`` list, a run that cannot be loaded (a damaged or hand-edited ``config.json``...) is left
    out and described there, so that one bad run does not stop a report over many; without it, it raises.
    """
    runs = []
    for path in find_run_dirs(pattern):
        if not (path / RECORDS / "index.json").exists():
            continue
        try:
            runs.append(load_run(path))
        except (ValueError, KeyError, TypeError, OSError) as err:
            if skipped is None:
                raise
            skipped.append(f"{path} skipped: {err}")
    return [r for r in runs if r.num_points > 0 or not require_records]


def read_progress(path: str | Path) -> dict[str, Any]:
    """A run's ``progress.json`` (its position and the time it was written), or ``{}`` when it is missing or
    damaged: it only informs status tables, and the next checkpoint rewrites it."""
    try:
        return read_json(Path(path) / PROGRESS)
    except (OSError, ValueError):
        return {}


def run_status(path: str | Path, now: float | None = None) -> str:
    """``done``, ``running`` (progress written recently), ``partial`` (resumable), or ``missing``."""
    path = Path(path)
    if (path / METRICS).exists():
        return "done"
    progress = read_progress(path)
    if progress:
        return "running" if (now or time.time()) - progress.get("updated", 0.0) < RUNNING_WITHIN_S else "partial"
    return "partial" if (path / CHECKPOINT).exists() else "missing"


@dataclass
class RunGroup:
    """Runs of one :class:`~atlib.setting.Setting` (they differ only in their seed): the collection of
    models the analyses average over."""

    runs: list[Run]
    config: TrainConfig = field(init=False)
    setting: Setting = field(init=False)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a RunGroup needs at least one run")
        self.runs = sorted(self.runs, key=lambda r: r.config.seed)
        self.config = self.runs[0].config
        self.setting = Setting.of(self.config)
        others = [r.name for r in self.runs if r.setting != self.setting]
        if others:
            raise ValueError(f"a RunGroup holds the seeds of one setting; {others} differ from {self.runs[0].name} "
                             "in more than the seed (group runs with atlib.store.runs.group_seeds)")

    @property
    def label(self) -> str:
        return self.setting.label

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.runs]

    @property
    def num_points(self) -> int:
        """Record points shared by every seed (runs still training may have fewer)."""
        return min(r.num_points for r in self.runs)

    @property
    def epochs(self) -> np.ndarray:
        return self.runs[0].epochs[: self.num_points]

    def probs(self, split: str = "test") -> np.ndarray:
        """(S, T, N, C) float16: every seed's records over the shared record points."""
        t = self.num_points
        return np.stack([r.probs(split)[:t] for r in self.runs])

    def labels(self, split: str = "test") -> np.ndarray:
        return self.runs[0].labels(split)

    def has(self, split: str) -> bool:
        return all(r.has(split) for r in self.runs)

    def point_values(self, key: str) -> np.ndarray:
        """(S, T) values of one record-point field, e.g. ``neg_acc``."""
        t = self.num_points
        return np.stack([r.point_values(key)[:t] for r in self.runs])

    def metric_values(self, *keys: str) -> np.ndarray:
        """(S,) one final metric per seed, following nested ``keys`` (NaN where a run lacks it)."""
        values = []
        for run in self.runs:
            value: Any = run.metrics
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(np.nan if value is None else float(value))
        return np.array(values)


def group_seeds(runs: Iterable[Run]) -> list[RunGroup]:
    """Group runs by :class:`~atlib.setting.Setting`, in its order (:attr:`~atlib.setting.Setting.sort_key`:
    NT first, then AT by epsilon, original data first, then the other methods)."""
    groups: dict[Setting, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.setting, []).append(run)
    return sorted((RunGroup(rs) for rs in groups.values()), key=lambda g: g.setting.sort_key)
