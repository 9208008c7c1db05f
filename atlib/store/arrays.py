"""The one mechanism under ``records/`` and ``dynamics/``: preallocated ``.npy`` arrays filled in place
through memory maps, and an ``index.json`` holding the counts that make their rows visible.

Crash safety: rows are written and flushed *before* the index (atomically replaced) counts them, so a
reader trusts only the counted rows and sees a record point or an epoch whole or not at all, whatever
instant the writer was killed at. Files are allocated in full when created (a full disk fails then), and
a file shorter than its header implies is never opened for writing: an ``r+`` memory map would extend it
with zeros. Pure NumPy: analysis never needs torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from atlib.store.io import WAYS_OUT, RunFolderError, npy_shape, npy_size_problem, preallocate_npy, read_json, save_npy, write_json
from atlib.store.layout import INDEX

Allocation = tuple[Any, tuple[int, ...], float | int | None]  # dtype, shape, fill


class PreallocatedStore:
    """A folder of preallocated arrays (``<name>.npy``), fixed arrays written once, and ``index.json``."""

    what = "arrays"  # how error messages name the store

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        index_path = self.folder / INDEX
        if not index_path.exists():
            raise FileNotFoundError(f"no {self.what} in {self.folder} (missing {INDEX})")
        self._index: dict[str, Any] = read_json(index_path)
        self._readers: dict[str, np.ndarray] = {}  # read-only maps share pages with the writer's, so they see appends

    @classmethod
    def _allocate(cls, folder: Path, arrays: Mapping[str, Allocation], fixed: Mapping[str, np.ndarray],
                  index: dict[str, Any]) -> None:
        """Write the fixed arrays, allocate the others, then the index that marks the store as created."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, values in fixed.items():
            save_npy(folder / f"{name}.npy", values)
        for name, (dtype, shape, fill) in arrays.items():
            preallocate_npy(folder / f"{name}.npy", dtype, shape, fill)
        write_json(folder / INDEX, index)

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.npy"

    def _fixed(self, name: str) -> np.ndarray:
        return np.load(self._path(name))

    def _rows(self, name: str, stop: int) -> np.ndarray:
        """The first ``stop`` rows of a preallocated array, memory-mapped read-only."""
        if name not in self._readers:
            self._readers[name] = np.load(self._path(name), mmap_mode="r")
        return self._readers[name][:stop]

    def _write(self, name: str, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` from row ``start`` on, flushed; only into a file of its full size."""
        path = self._path(name)
        problem = npy_size_problem(path)
        if problem:
            raise RunFolderError(f"{problem}; it cannot be written to. {WAYS_OUT.capitalize()}.")
        array = np.load(path, mmap_mode="r+")
        if rows.shape[1:] != array.shape[1:]:
            raise ValueError(f"{name}: expected rows of shape {array.shape[1:]}, got {rows.shape[1:]}")
        array[start: start + len(rows)] = rows
        array.flush()
        del array

    def _commit(self, **changes: Any) -> None:
        """Replace the index atomically: the rows written before it become visible."""
        index = dict(self._index, **changes)
        write_json(self.folder / INDEX, index)
        self._index = index

    def _verify(self, lengths: Mapping[str, int], fixed: tuple[str, ...] = ()) -> None:
        """Refuse a store whose files are missing, cut short, or of another length than the index implies."""
        problems = [p for name in fixed if not self._path(name).exists() for p in [f"{self._path(name)} is missing"]]
        for name, length in lengths.items():
            problem = npy_size_problem(self._path(name))
            if problem is None and npy_shape(self._path(name))[0] != length:
                problem = f"{self._path(name)} has {npy_shape(self._path(name))[0]} rows, {INDEX} implies {length}"
            if problem:
                problems.append(problem)
        if problems:
            raise RunFolderError(f"the {self.what} in {self.folder} are damaged: " + "; ".join(problems) + f". {WAYS_OUT.capitalize()}.")
