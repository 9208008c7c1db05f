"""Per-example prediction records: for each evaluation set, a float16 array of shape (T, N, C)
holding every example's softmax probabilities at every record point.

Crash safety: the arrays are preallocated ``.npy`` files (created under a temporary name and
renamed); a point's rows are written and flushed *before* ``index.json`` (atomically replaced)
counts it. A reader trusts only the first ``count`` rows, so a record point is either fully
there or absent, whatever instant the writer was killed at. Pure NumPy: analysis never needs torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from atlib.store.io import preallocate_npy, read_json, save_npy, write_json

INDEX = "index.json"


class RecordStore:
    """The ``records/`` folder of a run: ``<set>_probs.npy``, ``<set>_labels.npy`` and ``index.json``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        index_path = self.folder / INDEX
        if not index_path.exists():
            raise FileNotFoundError(f"no records in {self.folder} (missing {INDEX}); was the run started?")
        self._index = read_json(index_path)
        self._readers: dict[str, np.ndarray] = {}  # read-only maps share pages with the writer's, so they see appends

    @classmethod
    def create(cls, folder: str | Path, capacity: int, labels: Mapping[str, np.ndarray], num_classes: int) -> "RecordStore":
        """Preallocate room for ``capacity`` record points for each named evaluation set."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, set_labels in labels.items():
            save_npy(folder / f"{name}_labels.npy", np.asarray(set_labels, dtype=np.int64))
            preallocate_npy(folder / f"{name}_probs.npy", np.float16, (capacity, len(set_labels), num_classes))
        write_json(folder / INDEX, {"count": 0, "capacity": capacity, "sets": sorted(labels), "points": []})
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

    def labels(self, name: str) -> np.ndarray:
        self._check_set(name)
        return np.load(self.folder / f"{name}_labels.npy")

    def probs(self, name: str) -> np.ndarray:
        """Memory-mapped (count, N, C) float16 probabilities of the complete record points."""
        self._check_set(name)
        if name not in self._readers:
            self._readers[name] = np.load(self.folder / f"{name}_probs.npy", mmap_mode="r")
        return self._readers[name][: self.count]

    def append(self, point: Mapping[str, Any], probs: Mapping[str, np.ndarray]) -> None:
        """Write one record point: rows first (flushed), then the index that makes them visible."""
        if sorted(probs) != self.sets:
            raise KeyError(f"a record point needs probabilities for exactly {self.sets}, got {sorted(probs)}")
        k = self.count
        if k >= self.capacity:
            raise IndexError(f"record store is full ({self.capacity} points)")
        for name, values in probs.items():
            array = np.load(self.folder / f"{name}_probs.npy", mmap_mode="r+")
            if values.shape != array.shape[1:]:
                raise ValueError(f"{name}: expected probabilities of shape {array.shape[1:]}, got {values.shape}")
            array[k] = values.astype(np.float16)
            array.flush()
            del array
        index = dict(self._index, count=k + 1, points=self._index["points"][:k] + [dict(point)])
        write_json(self.folder / INDEX, index)
        self._index = index

    def truncate(self, count: int) -> None:
        """Forget points past ``count`` (used when resuming from a checkpoint older than the records)."""
        if count < self.count:
            index = dict(self._index, count=count, points=self._index["points"][:count])
            write_json(self.folder / INDEX, index)
            self._index = index

    def _check_set(self, name: str) -> None:
        if name not in self.sets:
            raise KeyError(f"no records for {name!r}; this run recorded {self.sets}")
