"""The run folder's one writer. Training, the recording of external checkpoints, every post-hoc evaluation
and the tests' fake runs write ``<out>/runs/<name>/`` through :class:`RunWriter`; readers use
:class:`atlib.store.runs.Run`.

The writer owns the folder's guards: one writer at a time (:mod:`atlib.store.lock`), a refusal of a config
that contradicts the stored one, resume checks (records, dynamics, checkpoint and meta.json agree with each
other, every preallocated file has its full size), orphaned temporary files removed, and on a failed setup
only what this call created removed. Any mismatch is refused before anything is written, with what was
found and the ways out (``--force``, or restore the file). docs/run-folder.md states the contract.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from atlib.config import EXECUTION_FIELDS, TrainConfig
from atlib.store.dynamics import DynamicsStore
from atlib.store.io import WAYS_OUT, RunFolderError, read_json, write_json
from atlib.store.layout import (AUTOATTACK_STATE, CHECKPOINT, CONFIG, DYNAMICS, INDEX, LOG, META, METRICS, OWNED,
                                PROGRESS, RECORDS, TENSORBOARD)
from atlib.store.lock import RunLock
from atlib.store.records import RecordStore


def run_folder(config: TrainConfig) -> Path:
    """``<out_dir>/<run_name>``; a name that leads out of ``out_dir`` (``..``, a path) is refused."""
    out = Path(config.out_dir)
    name = config.run_name
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise ValueError(f"run name {name!r} is not a plain folder name: it would be written outside {out}; "
                         "give a name without '/' or '..'")
    return out / name


def config_hash(stored: Mapping[str, Any]) -> str:
    """sha256 of a stored config without its execution-only fields (device, paths, name...): what makes a
    checkpoint belong to a run, wherever the folder has moved and whatever device resumes it."""
    kept = {k: v for k, v in stored.items() if k not in EXECUTION_FIELDS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


class RunWriter:
    """The process writing one run folder, holding its lock until :meth:`close` (or the process ends)."""

    def __init__(self, path: Path, lock: RunLock | None) -> None:
        self.path = path
        self._lock = lock
        self._created: list[Path] = []  # what this call made, removed again by abort()
        self._parents: list[Path] = []  # folders above the run this call made (removed only if empty)

    # ---- opening -------------------------------------------------------------------------------------
    @classmethod
    def open(cls, config: TrainConfig, *, force: bool = False, source: Mapping[str, Any] | None = None,
             lock: bool = True) -> "RunWriter":
        """Create or reuse the folder of the run ``config`` describes, under its lock; refuse a config that
        contradicts the stored one (and, for a recording of external checkpoints, another ``source``).
        ``force`` removes everything the stored run owns first. ``lock`` False: a writer that trusts the
        caller to be the only one (tests that build runs in a private folder)."""
        path = run_folder(config)
        writer = cls(path, None)
        writer._make_folder()
        try:
            writer._take_lock(lock)
            writer._remove_orphans()
            stored = read_json(path / CONFIG) if (path / CONFIG).exists() else None
            if stored is not None and not force:
                writer._check_same_run(config, stored, source)
            if force:
                writer._discard()
            if force or stored is None:
                writer._write_new(path / CONFIG, config.to_dict())
        except BaseException:
            writer.abort()
            raise
        return writer

    @classmethod
    def reopen(cls, path: str | Path) -> "RunWriter":
        """The writer of a finished run, for an evaluation that adds to its metrics (under its lock)."""
        path = Path(path)
        if not (path / METRICS).exists():
            raise ValueError(f"{path} has not finished training (no {METRICS}); finish or resume it first")
        writer = cls(path, None)
        writer._take_lock(True)
        try:
            writer._remove_orphans()
        except BaseException:
            writer.close()
            raise
        return writer

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock (the folder stays as it is)."""
        if self._lock is not None:
            self._lock.release()

    def abort(self) -> None:
        """Remove what this call created (nothing else), then release the lock."""
        for item in reversed(self._created):
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
        self._created.clear()
        for parent in self._parents:  # folders above the run made by this call, if still empty
            try:
                parent.rmdir()
            except OSError:
                break
        self.close()

    # ---- state of the folder -------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return (self.path / METRICS).exists()

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists()

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def stored_config(self) -> dict[str, Any]:
        return read_json(self.path / CONFIG)

    @property
    def identity(self) -> dict[str, str]:
        """What a checkpoint stores to say which run it belongs to."""
        stored = self.stored_config
        return {"name": TrainConfig.from_dict(stored).run_name, "config_sha256": config_hash(stored)}

    @property
    def meta(self) -> dict[str, Any]:
        return read_json(self.path / META) if (self.path / META).exists() else {}

    def scratch(self, name: str = AUTOATTACK_STATE) -> Path:
        """A folder for an interrupted evaluation's progress (removed by :meth:`update_metrics` callers)."""
        return self.path / name

    # ---- resume checks ---------------------------------------------------------------------------------
    def check_checkpoint(self, state: Mapping[str, Any], synthetic: bool) -> None:
        """Refuse a checkpoint of another run, and a run with a checkpoint but no meta.json (or no hash of
        its synthesized data): resuming would skip the check that the same data is used."""
        found = state.get("run")
        mine = self.identity
        if found is not None and found.get("config_sha256") != mine["config_sha256"]:
            if found.get("name") == mine["name"]:
                raise RunFolderError(f"{self.checkpoint_path} was written under another config than {self.path / CONFIG} "
                                     f"now holds (was it edited, e.g. its epochs?): restore {CONFIG}, or {WAYS_OUT.split(', or')[0]}")
            raise RunFolderError(
                f"{self.checkpoint_path} belongs to another run ({found.get('name')!r}, config hash "
                f"{str(found.get('config_sha256'))[:12]}...), not to {mine['name']!r} ({mine['config_sha256'][:12]}...); {WAYS_OUT}")
        if not (self.path / META).exists():
            raise RunFolderError(f"{self.path} has a checkpoint but no {META}: the inputs it was trained on cannot be "
                                 f"checked; {WAYS_OUT}")
        if synthetic and not ((self.meta.get("inputs") or {}).get("synthetic") or {}).get("sha256"):
            raise RunFolderError(f"{self.path / META} holds no hash of the synthesized data this run was trained on, so a "
                                 f"resume cannot check it is the same; {WAYS_OUT}")

    def records(self, capacity: int, labels: Mapping[str, np.ndarray], num_classes: int,
                rows: Mapping[str, np.ndarray], points: int | None) -> RecordStore:
        """The run's records, created if new, else checked against the checkpoint's ``points`` (0 before the
        first checkpoint): they must hold exactly those or one more (written before a checkpoint that never
        came; :meth:`cut_back` drops it). ``points`` None trusts the stored count (a recording of external
        checkpoints, whose record points are its checkpoints). Nothing is changed here."""
        folder = self.path / RECORDS
        if not (folder / INDEX).exists():
            if self.has_checkpoint:
                raise RunFolderError(f"{folder / INDEX} is missing but {self.checkpoint_path} exists: re-creating the "
                                     f"records would overwrite the stored ones; {WAYS_OUT}")
            self._track(folder)
            self._track(self.path / LOG)
            return RecordStore.create(folder, capacity, labels, num_classes, rows)
        store = RecordStore(folder)
        store.verify()
        if store.capacity != capacity:
            raise RunFolderError(f"{folder} has room for {store.capacity} record points, the config asks for {capacity} "
                                 f"(epochs x record_per_epoch): was config.json edited? Restore epochs, or {WAYS_OUT.split(', or')[0]}")
        if points is not None:
            if store.count not in (points, points + 1):
                where = f"{self.checkpoint_path} is at point {points}" if self.has_checkpoint else "there is no checkpoint"
                raise RunFolderError(f"{folder} holds {store.count} record points but {where}; {WAYS_OUT}")
        return store

    def dynamics(self, epoch: int, synthetic_per_epoch: int, in_checkpoint: bool,
                 create: Mapping[str, Any] | None) -> DynamicsStore | None:
        """The run's training dynamics at the checkpoint's ``epoch``: created from ``create`` (the arguments of
        :meth:`DynamicsStore.create`) when the run is new, checked (``epochs_done`` is ``epoch`` or one
        more, which :meth:`cut_back` drops) when it resumes; None for a run stored before dynamics were recorded."""
        folder = self.path / DYNAMICS
        if not (folder / INDEX).exists():
            if in_checkpoint or (folder.exists() and self.has_checkpoint):
                raise RunFolderError(f"{folder / INDEX} is missing but the run recorded training dynamics: "
                                     f"recording would stop or overwrite them; {WAYS_OUT}")
            if self.has_checkpoint or create is None:
                return None
            self._track(folder)
            return DynamicsStore.create(folder, **create)
        store = DynamicsStore(folder)
        store.verify()
        if create is not None and store.epochs != create["epochs"]:
            raise RunFolderError(f"{folder} has room for {store.epochs} epochs, the config asks for {create['epochs']}: "
                                 f"was config.json edited? Restore epochs, or {WAYS_OUT.split(', or')[0]}")
        if store.epochs_done not in (epoch, epoch + 1) or store.synthetic_rows < epoch * synthetic_per_epoch:
            raise RunFolderError(f"{folder} holds {store.epochs_done} epochs but the checkpoint is at epoch {epoch}; {WAYS_OUT}")
        return store

    def cut_back(self, records: RecordStore, points: int | None, dynamics: DynamicsStore | None = None,
                 epoch: int = 0, synthetic_per_epoch: int = 0) -> None:
        """Once every check has passed: drop the record point and dynamics epoch past the checkpoint (``points``
        None: keep every point), and rewrite ``log.jsonl`` to one line per record point."""
        if points is not None:
            records.truncate(points)
        if dynamics is not None:
            dynamics.truncate(epoch, epoch * synthetic_per_epoch)
        write_json_lines(self.path / LOG, records.points)

    # ---- writing -------------------------------------------------------------------------------------
    def write_meta(self, inputs: Mapping[str, Any] | None = None, *, plan: Mapping[str, Any] | None = None,
                   **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` (and the resolved ``inputs``, and a sweep's ``plan``: grid name, planned seeds) into
        meta.json. A resumed run must mix in the synthesized images it started with, wherever the file lives."""
        meta = self.meta
        if inputs is not None:
            _check_same_synthetic(meta.get("inputs"), inputs)
            meta["inputs"] = dict(inputs)
        if plan is not None:
            meta["plan"] = dict(plan)
        meta.update(fields)
        self._write_new(self.path / META, meta)
        return meta

    def save_checkpoint(self, *, progress: Mapping[str, Any] | None = None, **state: Any) -> None:
        """``checkpoint.pt`` (see :func:`atlib.store.checkpoint.save_checkpoint`), with the run's identity, then
        the progress file the sweep's status reads."""
        from atlib.store.checkpoint import save_checkpoint

        save_checkpoint(self.checkpoint_path, identity=self.identity, **state)
        if progress is not None:
            write_json(self.path / PROGRESS, {**progress, "updated": time.time()})

    def save_weights(self, state_dict: Mapping[str, Any]) -> None:
        """A weights-only ``checkpoint.pt`` (a run recorded from external checkpoints)."""
        from atlib.store.checkpoint import save_state

        save_state(self.checkpoint_path, {"model": dict(state_dict), "run": self.identity})

    def log_point(self, point: Mapping[str, Any]) -> None:
        """Append one record point to ``log.jsonl`` (rewritten to the records' count on every resume)."""
        with open(self.path / LOG, "a") as f:
            f.write(json.dumps(dict(point), sort_keys=True, default=_plain) + "\n")

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    def update_metrics(self, **sections: Any) -> dict[str, Any]:
        """Merge ``sections`` (e.g. ``cifar_c=...``, ``autoattack=...``) into metrics.json, atomically."""
        metrics = {**read_json(self.path / METRICS), **sections}
        write_json(self.path / METRICS, metrics)
        return metrics

    def finish(self, metrics: Mapping[str, Any], **meta: Any) -> None:
        """Complete the run: meta.json updated with ``meta``, then metrics.json (its presence marks the run
        complete), then the progress file removed."""
        self.write_meta(**meta)
        write_json(self.path / METRICS, dict(metrics))
        (self.path / PROGRESS).unlink(missing_ok=True)

    # ---- internals -----------------------------------------------------------------------------------
    def _make_folder(self) -> None:
        missing = [p for p in self.path.parents if not p.exists()]
        self._track(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self._created.clear()
            raise RunFolderError(f"cannot create {self.path} ({e.strerror}); choose another --out-dir") from None
        self._parents = missing

    def _take_lock(self, lock: bool) -> None:
        if not lock:
            return
        self._lock = RunLock(self.path)
        try:
            self._lock.acquire()
        except PermissionError as e:
            self._lock = None
            raise RunFolderError(f"cannot write in {self.path} ({e.strerror}): the folder is read-only; choose another "
                                 "--out-dir (reading a finished run needs no write access)") from None
        except BaseException:
            self._lock = None
            raise

    def _remove_orphans(self) -> None:
        """Temporary files left by a killed write (``.<name>.<random>.tmp``), under the lock."""
        for folder in (self.path, self.path / RECORDS, self.path / DYNAMICS):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)

    def _check_same_run(self, config: TrainConfig, stored: dict[str, Any], source: Mapping[str, Any] | None) -> None:
        conflicts = config.conflicts_with(stored)
        if source is not None:
            before = self.meta.get("source")
            if before is not None and before != dict(source):
                conflicts["source"] = (before, dict(source))
        if conflicts:
            lines = "\n".join(f"  {k}: stored {old!r}, given {new!r}" for k, (old, new) in sorted(conflicts.items()))
            if source is not None:
                raise ValueError(f"{self.path} holds a recording of other settings:\n{lines}\n"
                                 "Give another --name, or delete that folder to record it again.")
            raise ValueError(f"{self.path} holds a run with a different config:\n{lines}\n"
                             "Use another --name/--out-dir, or --force to discard the stored run and start again.")

    def _discard(self) -> None:
        """``--force``: remove everything the stored run owns (under the lock)."""
        for name in OWNED:
            item = self.path / name
            if item.is_dir():
                shutil.rmtree(item)
            else:
                item.unlink(missing_ok=True)

    def _track(self, path: Path) -> None:
        if not path.exists():
            self._created.append(path)

    def _write_new(self, path: Path, obj: Any) -> None:
        self._track(path)
        write_json(path, obj)


def write_json_lines(path: Path, rows: list[Mapping[str, Any]]) -> None:
    from atlib.store.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(dict(r), sort_keys=True, default=_plain) + "\n" for r in rows))


def _plain(obj: Any) -> Any:
    return obj.item() if isinstance(obj, np.generic) else str(obj)


def _check_same_synthetic(stored: Mapping[str, Any] | None, current: Mapping[str, Any]) -> None:
    before, now = (stored or {}).get("synthetic"), current.get("synthetic")
    if before and now and before["sha256"] != now["sha256"]:
        raise ValueError(
            f"the synthetic data file differs from the one this run started with: {now['path']} has sha256 "
            f"{now['sha256'][:12]}..., the run was trained on {before['path']} ({before['sha256'][:12]}...). "
            "Point --synthetic at the original file, or train a new run (--name/--out-dir, or --force)."
        )
