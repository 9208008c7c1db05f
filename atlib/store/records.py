"""Per-example prediction records: for each evaluation set, a float16 array of shape (T, N, C)
holding every example's softmax probabilities at every record point, on the preallocated-array
mechanism of :mod:`atlib.store.arrays` (a point is either fully there or absent).

Beside them: ``<set>_labels.npy``, and the rows the sets were taken from (``test_index.npy``: rows of
the full test set; ``probe_index.npy``: rows of the run's training set; ``train_index.npy``: that
training set's rows of the full one), written before the index that marks the store as created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from atlib.store.arrays import PreallocatedStore
from atlib.store.layout import PROBE_INDEX, TEST_INDEX, TRAIN_INDEX

_ROWS = {"test": TEST_INDEX, "probe": PROBE_INDEX, "train": TRAIN_INDEX}


class RecordStore(PreallocatedStore):
    """The ``records/`` folder of a run: ``<set>_probs.npy``, ``<set>_labels.npy`` and ``index.json``."""

    what = "records"

    @classmethod
    def create(cls, folder: str | Path, capacity: int, labels: Mapping[str, np.ndarray], num_classes: int,
               rows: Mapping[str, np.ndarray] | None = None) -> "RecordStore":
        """Preallocate room for ``capacity`` record points for each named evaluation set; ``rows``: the index
        arrays ``test``, ``probe``, ``train`` (see the module docstring)."""
        folder = Path(folder)
        unknown = sorted(set(rows or {}) - set(_ROWS))
        if unknown:
            raise KeyError(f"rows may hold {sorted(_ROWS)}, got {unknown}")
        fixed = {_ROWS[k].removesuffix(".npy"): np.asarray(v) for k, v in (rows or {}).items()}
        fixed |= {f"{name}_labels": np.asarray(set_labels, dtype=np.int64) for name, set_labels in labels.items()}
        arrays = {f"{name}_probs": (np.float16, (capacity, len(set_labels), num_classes), None) for name, set_labels in labels.items()}
        cls._allocate(folder, arrays, fixed, {"count": 0, "capacity": capacity, "sets": sorted(labels), "points": []})
        return cls(folder)

    @property
    def count(self) -> int:
        return int(self._index["count"])

    @property
    def capacity(self) -> int:
        return int(self._index["capacity"])

    @property
    def sets(self) -> list[str]:
        return list(self._index["sets"])

    @property
    def points(self) -> list[dict[str, Any]]:
        return list(self._index["points"][: self.count])

    @property
    def stamp(self) -> int:
        """Changes whenever a point is added or dropped (the index file's modification time, ns)."""
        return (self.folder / "index.json").stat().st_mtime_ns

    def labels(self, name: str) -> np.ndarray:
        self._check_set(name)
        return self._fixed(f"{name}_labels")

    def probs(self, name: str) -> np.ndarray:
        """Memory-mapped (count, N, C) float16 probabilities of the complete record points."""
        self._check_set(name)
        return self._rows(f"{name}_probs", self.count)

    def rows(self, kind: str) -> np.ndarray:
        """``test``: rows of the full test set evaluated; ``probe``: the probe's rows of the run's training set;
        ``train``: the run's training set's rows of the full one (FileNotFoundError if the run has none)."""
        path = self.folder / _ROWS[kind]
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: this run recorded no {kind} rows")
        return np.load(path)

    def has_rows(self, kind: str) -> bool:
        return (self.folder / _ROWS[kind]).exists()

    def append(self, point: Mapping[str, Any], probs: Mapping[str, np.ndarray]) -> None:
        """Write one record point: rows first (flushed), then the index that makes them visible."""
        if sorted(probs) != self.sets:
            raise KeyError(f"a record point needs probabilities for exactly {self.sets}, got {sorted(probs)}")
        k = self.count
        if k >= self.capacity:
            raise IndexError(f"record store is full ({self.capacity} points)")
        for name, values in probs.items():
            self._write(f"{name}_probs", k, np.asarray(values).astype(np.float16)[None])
        self._commit(count=k + 1, points=self._index["points"][:k] + [dict(point)])

    def truncate(self, count: int) -> None:
        """Forget points past ``count`` (a point written just before a checkpoint that never came)."""
        if count < self.count:
            self._commit(count=count, points=self._index["points"][:count])

    def verify(self) -> None:
        """Refuse records whose files are missing, cut short, or disagree with the index."""
        self._verify({f"{name}_probs": self.capacity for name in self.sets}, tuple(f"{name}_labels" for name in self.sets))

    def _check_set(self, name: str) -> None:
        if name not in self.sets:
            raise KeyError(f"no records for {name!r}; this run recorded {self.sets}")
