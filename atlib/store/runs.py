"""The on-disk run store and its readers: the contract between training and analysis.

A run folder ``outputs/runs/<name>/`` holds the files :mod:`atlib.store.layout` names, written by
:class:`atlib.store.writer.RunWriter`. Reading a run needs NumPy only (no torch, no GPU, no model), takes no
lock and works on a read-only folder.
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
from atlib.store.layout import CHECKPOINT, CONFIG, DYNAMICS, INDEX, META, METRICS, PROGRESS, RECORDS
from atlib.store.records import RecordStore
from atlib.setting import Setting

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
        """The inputs the run was trained on, resolved once at its start (meta.json ``inputs``: ``data_root``,
        ``neg_path``, ``synthetic``, ``cifar_c_root``). Runs from before they were recorded fall back to
        their config's paths, which ``atlib.data`` then searches as usual; runs that recorded the dataset's
        root as ``cifar_root`` (before other datasets) are read under the new name."""
        config = self.config
        recorded = dict(self.meta.get("inputs") or {"data_root": config.data_root, "neg_path": config.neg_path,
                                                    "synthetic": None, "cifar_c_root": config.cifar_c_root})
        if "cifar_root" in recorded:
            recorded["data_root"] = recorded.pop("cifar_root")
        return recorded

    @property
    def plan(self) -> dict[str, Any] | None:
        """What the grid that trained this run promised it (meta.json ``plan``: ``grid``, ``seeds``, written by the
        sweep and the demo); None for a run trained on its own, whose missing seeds nobody can name."""
        plan = self.meta.get("plan")
        return dict(plan) if isinstance(plan, dict) else None

    @cached_property
    def dynamics(self) -> DynamicsStore | None:
        """Training-set statistics recorded during training (``dynamics/``), or None for a run without them
        (read once, like the records' index at :func:`load_run`)."""
        folder = self.path / DYNAMICS
        return DynamicsStore(folder) if (folder / INDEX).exists() else None

    def test_index(self) -> np.ndarray:
        """Rows of the dataset's full test set that this run evaluated (all of them without a subset)."""
        return self.records.rows("test")

    def probe_index(self) -> np.ndarray:
        """Rows of the run's training set (hence columns of :attr:`dynamics`) recorded as the ``probe`` split."""
        return self.records.rows("probe")

    def train_index(self) -> np.ndarray:
        """Rows of the full training set that make up this run's training set (written beside the probe's)."""
        return self.records.rows("train")

    @property
    def records_stamp(self) -> int:
        """Changes whenever a record point is added (for caches of what is computed from the records)."""
        return self.records.stamp

    @property
    def checkpoint_path(self) -> Path:
        """The final (or latest) model's checkpoint."""
        return self.path / CHECKPOINT

    # ---- the final evaluation (metrics.json) ----
    @property
    def clean_acc(self) -> float | None:
        return self.metrics.get("clean_acc")

    @property
    def neg_acc(self) -> float | None:
        return self.metrics.get("neg_acc")

    @property
    def robust_acc(self) -> dict[str, float]:
        """PGD robust accuracy by budget (ε·255 as text, e.g. ``"8.0"``)."""
        return self.metrics.get("robust_acc") or {}

    @property
    def robust_eval(self) -> dict[str, Any]:
        """The PGD evaluation's rows, counts and settings (empty when none ran)."""
        return self.metrics.get("robust_eval") or {}

    @property
    def autoattack(self) -> dict[str, Any]:
        """AutoAttack's result (``robust_acc`` by budget, rows, settings), empty when none ran."""
        return self.metrics.get("autoattack") or {}

    @property
    def cifar_c(self) -> dict[str, Any]:
        """CIFAR-C accuracy (``source``, ``pooled``, ``seed_paper_mean``, ``robustbench_mean``), empty when none ran."""
        return self.metrics.get("cifar_c") or {}

    def final_metric(self, *keys: str) -> Any:
        """One value of the final evaluation, following nested ``keys`` (None where absent)."""
        value: Any = self.metrics
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

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

    With a ``skipped`` list, a run that cannot be loaded (a damaged or hand-edited config...) is left
    out and described there, so that one bad run does not stop a report over many; without it, it raises.
    """
    runs = []
    for path in find_run_dirs(pattern):
        if not (path / RECORDS / INDEX).exists():
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


def stored_config(path: str | Path) -> dict[str, Any] | None:
    """The config a run folder holds (as stored), or None if it holds none."""
    path = Path(path) / CONFIG
    return read_json(path) if path.exists() else None


def stored_metrics(path: str | Path) -> dict[str, Any] | None:
    """The final evaluation of a finished run folder, or None while it is not finished."""
    path = Path(path) / METRICS
    return read_json(path) if path.is_file() else None


def recorded_points(path: str | Path) -> int:
    """Record points a run folder has stored so far (from its progress file, else its records' index)."""
    path = Path(path)
    progress = read_progress(path)
    if progress:
        return int(progress.get("points", 0))
    index = path / RECORDS / INDEX
    return int(read_json(index)["count"]) if index.exists() else 0


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
        values = [run.final_metric(*keys) for run in self.runs]
        return np.array([np.nan if v is None else float(v) for v in values])


def group_seeds(runs: Iterable[Run]) -> list[RunGroup]:
    """Group runs by :class:`~atlib.setting.Setting`, in its order (:attr:`~atlib.setting.Setting.sort_key`:
    NT first, then AT by epsilon, original data first, then the other methods)."""
    groups: dict[Setting, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.setting, []).append(run)
    return sorted((RunGroup(rs) for rs in groups.values()), key=lambda g: g.setting.sort_key)
