"""``<run>/dynamics/``: per-epoch statistics of every original training example, and one row per
synthesized image seen, recorded from the training forward pass (torch-free, like :mod:`atlib.store.records`).

Layout: ``train_index.npy`` (int64 (N,): rows of the full training set), ``labels.npy`` (int64 (N,)),
for each of :data:`FIELDS` a float16 ``<field>.npy`` of shape (epochs, N), NaN where the example was not
presented in that epoch, and ``step.npy`` (int32 (epochs, N), -1 there). With ``clean`` the same fields
from a clean eval-mode forward, ``clean_<field>.npy``. Synthesized images are drawn with replacement,
so they get rows, not columns: ``synthetic_<key>.npy`` for :data:`SYNTHETIC` (length ``synthetic_capacity``).

Crash safety as in :class:`atlib.store.records.RecordStore`, on the same mechanism (:mod:`atlib.store.arrays`):
an epoch's rows are written and flushed *before* ``index.json`` counts them.

Conventions: ``correct`` is argmax == label (not p > 0.5); ``margin`` is on logits (true-class logit
minus the largest other logit); ``p_true`` is the softmax probability of the label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from atlib.store.arrays import PreallocatedStore
from atlib.store.layout import TRAIN_INDEX

FIELDS = ("loss", "correct", "p_true", "margin")  # per original training example and epoch
SYNTHETIC = {"step": np.int32, "index": np.int64, "label": np.int64,
             "loss": np.float16, "margin": np.float16, "correct": np.uint8}  # per synthesized row seen
_RESERVED = ("epochs_done", "synthetic_rows", "epochs", "clean")


class DynamicsStore(PreallocatedStore):
    """<run>/dynamics/: crash-safe per-epoch training statistics."""

    what = "training dynamics"

    def __init__(self, folder: str | Path) -> None:
        super().__init__(folder)
        self.train_index: np.ndarray = self._fixed(TRAIN_INDEX.removesuffix(".npy"))
        self.labels: np.ndarray = self._fixed("labels")

    @classmethod
    def create(cls, folder: Path, epochs: int, train_index: np.ndarray, labels: np.ndarray, *, clean: bool,
               synthetic_capacity: int, meta: dict) -> "DynamicsStore":
        """Preallocate ``epochs`` rows for the N training examples (NaN / step -1 = not presented) and
        ``synthetic_capacity`` synthesized rows. ``meta`` (e.g. ``input``, ``precision``, ``method``) goes
        into ``index.json``."""
        train_index, labels = np.asarray(train_index, np.int64), np.asarray(labels, np.int64)
        if train_index.ndim != 1 or train_index.shape != labels.shape:
            raise ValueError(f"train_index and labels must be (N,) of one length, got {train_index.shape} and {labels.shape}")
        if epochs < 1 or synthetic_capacity < 0:
            raise ValueError(f"need epochs >= 1 and synthetic_capacity >= 0, got {epochs} and {synthetic_capacity}")
        clash = sorted(set(meta) & set(_RESERVED))
        if clash:
            raise ValueError(f"meta may not set {clash}: the store owns those keys")
        n = len(labels)
        arrays = {f"{prefix}{name}": (np.float16, (epochs, n), np.nan)
                  for prefix in (("", "clean_") if clean else ("",)) for name in FIELDS}
        arrays["step"] = (np.int32, (epochs, n), -1)
        if synthetic_capacity > 0:
            arrays |= {f"synthetic_{key}": (dtype, (synthetic_capacity,), 0) for key, dtype in SYNTHETIC.items()}
        cls._allocate(Path(folder), arrays, {TRAIN_INDEX.removesuffix(".npy"): train_index, "labels": labels},
                      {"epochs_done": 0, "synthetic_rows": 0, "epochs": int(epochs), "clean": bool(clean), **meta})
        return cls(folder)

    @property
    def epochs_done(self) -> int:
        return int(self._index["epochs_done"])

    @property
    def synthetic_rows(self) -> int:
        return int(self._index["synthetic_rows"])

    @property
    def epochs(self) -> int:
        """Epochs preallocated (the run's planned length)."""
        return int(self._index["epochs"])

    @property
    def clean(self) -> bool:
        """Whether clean eval-mode statistics (``clean_<field>``) were recorded beside the training ones."""
        return bool(self._index["clean"])

    @property
    def meta(self) -> dict[str, Any]:
        """The whole ``index.json`` (counts, ``epochs``, ``clean`` and the loop's ``input``/``precision``/``method``)."""
        return dict(self._index)

    @property
    def synthetic_capacity(self) -> int:
        path = self._path("synthetic_step")
        return int(np.load(path, mmap_mode="r").shape[0]) if path.exists() else 0

    def write_epoch(self, epoch: int, stats: dict[str, np.ndarray], step: np.ndarray,
                    clean: dict[str, np.ndarray] | None = None, synthetic: dict[str, np.ndarray] | None = None) -> None:
        """Record one finished epoch: rows written and flushed, then ``index.json`` replaced atomically."""
        if epoch != self.epochs_done or epoch >= self.epochs:
            raise ValueError(f"write_epoch({epoch}): the next epoch to write is {self.epochs_done} "
                             f"(of {self.epochs}); call truncate() first when resuming from an earlier checkpoint")
        if (clean is not None) != self.clean:
            raise ValueError(f"this store was created with clean={self.clean}; pass clean statistics exactly then")
        n = len(self.labels)
        rows: dict[str, np.ndarray] = {"step": self._column(step, "step", n)}
        sources = {"": stats} | ({"clean_": clean} if clean is not None else {})
        for prefix, values in sources.items():
            if sorted(values) != sorted(FIELDS):
                raise KeyError(f"{prefix or 'training '}statistics need exactly {list(FIELDS)}, got {sorted(values)}")
            rows |= {f"{prefix}{k}": self._column(v, f"{prefix}{k}", n) for k, v in values.items()}
        synthetic_rows = self._check_synthetic(synthetic)
        for name, row in rows.items():
            self._write(name, epoch, row[None])
        start = self.synthetic_rows
        for key, values in (synthetic or {}).items():
            self._write(f"synthetic_{key}", start, np.asarray(values))
        self._write_index(epoch + 1, start + synthetic_rows)

    def truncate(self, epochs_done: int, synthetic_rows: int) -> None:
        """Forget epochs past ``epochs_done`` and synthesized rows past ``synthetic_rows`` (resuming from an
        older checkpoint); only the index changes, the next write_epoch overwrites the rows."""
        if not (0 <= epochs_done <= self.epochs_done and 0 <= synthetic_rows <= self.synthetic_rows):
            raise ValueError(f"truncate({epochs_done}, {synthetic_rows}) past what is recorded "
                             f"({self.epochs_done} epochs, {self.synthetic_rows} synthesized rows)")
        self._write_index(epochs_done, synthetic_rows)

    def verify(self) -> None:
        """Refuse dynamics whose files are missing, cut short, or disagree with the index."""
        names = [f"{p}{f}" for p in (("", "clean_") if self.clean else ("",)) for f in FIELDS] + ["step"]
        lengths = {name: self.epochs for name in names}
        if self._path("synthetic_step").exists():
            capacity = self.synthetic_capacity
            lengths |= {f"synthetic_{key}": capacity for key in SYNTHETIC}
        self._verify(lengths)

    def field(self, name: str, clean: bool = False) -> np.ndarray:
        """(epochs_done, N) float32 copy of one of :data:`FIELDS` (NaN = not presented that epoch)."""
        if name not in FIELDS:
            raise KeyError(f"unknown field {name!r}; the store records {list(FIELDS)}")
        if clean and not self.clean:
            raise KeyError("this run recorded no clean statistics (train with record_train_clean=True)")
        return np.array(self._rows(f"{'clean_' if clean else ''}{name}", self.epochs_done), dtype=np.float32)

    def step(self) -> np.ndarray:
        """(epochs_done, N) int32: the optimiser step each example was presented at (-1 = not presented)."""
        return np.array(self._rows("step", self.epochs_done), dtype=np.int32)

    def synthetic(self) -> dict[str, np.ndarray]:
        """One row per synthesized image seen: :data:`SYNTHETIC` keys, each (synthetic_rows,)."""
        if self.synthetic_capacity == 0:
            return {key: np.zeros(0, dtype) for key, dtype in SYNTHETIC.items()}
        return {key: np.array(self._rows(f"synthetic_{key}", self.synthetic_rows)) for key in SYNTHETIC}

    def _column(self, values: np.ndarray, name: str, n: int) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},), got {values.shape}")
        return values

    def _check_synthetic(self, synthetic: dict[str, np.ndarray] | None) -> int:
        if synthetic is None:
            return 0
        if sorted(synthetic) != sorted(SYNTHETIC):
            raise KeyError(f"synthetic rows need exactly {list(SYNTHETIC)}, got {sorted(synthetic)}")
        lengths = {np.shape(v) for v in synthetic.values()}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ValueError(f"synthetic arrays must be (R,) of one length, got shapes {sorted(lengths)}")
        r = next(iter(lengths))[0]
        if self.synthetic_rows + r > self.synthetic_capacity:
            raise IndexError(f"synthetic rows full: {self.synthetic_rows} + {r} > capacity {self.synthetic_capacity}")
        return r

    def _write_index(self, epochs_done: int, synthetic_rows: int) -> None:
        self._commit(epochs_done=int(epochs_done), synthetic_rows=int(synthetic_rows))
