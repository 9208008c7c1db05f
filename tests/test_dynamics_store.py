"""atlib.store.dynamics: round trip, unseen = NaN / -1, crash safety, truncate, epoch order."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from atlib.store.dynamics import FIELDS, SYNTHETIC, DynamicsStore


def _stats(rng: np.random.Generator, n: int, seen: np.ndarray) -> dict[str, np.ndarray]:
    stats = {f: rng.normal(size=n).astype(np.float32) for f in FIELDS}
    stats["correct"] = (rng.random(n) < 0.5).astype(np.float32)
    for v in stats.values():
        v[~seen] = np.nan
    return stats


def _synthetic(rng: np.random.Generator, r: int) -> dict[str, np.ndarray]:
    return {"step": rng.integers(0, 100, r), "index": rng.integers(0, 10**6, r), "label": rng.integers(0, 10, r),
            "loss": rng.random(r), "margin": rng.normal(size=r), "correct": rng.integers(0, 2, r)}


def _create(tmp_path, n=6, epochs=3, clean=False, capacity=0):
    rng = np.random.default_rng(0)
    return DynamicsStore.create(tmp_path / "dynamics", epochs, np.arange(n) * 7, rng.integers(0, 10, n), clean=clean,
                                synthetic_capacity=capacity, meta={"input": "adversarial", "precision": "bf16", "method": "pgd"})


def test_round_trip_with_unseen_examples(tmp_path):
    rng = np.random.default_rng(1)
    store = _create(tmp_path, clean=True, capacity=10)
    written = []
    for epoch in range(2):
        seen = np.array([True, True, False, True, epoch == 0, True])
        stats, clean = _stats(rng, 6, seen), _stats(rng, 6, seen)
        step = np.where(seen, np.arange(6) + 10 * epoch, -1)
        synth = _synthetic(rng, 4)
        store.write_epoch(epoch, stats, step, clean=clean, synthetic=synth)
        written.append((stats, clean, step, synth))

    reopened = DynamicsStore(tmp_path / "dynamics")
    assert (reopened.epochs_done, reopened.synthetic_rows, reopened.epochs, reopened.clean) == (2, 8, 3, True)
    assert reopened.meta["input"] == "adversarial" and reopened.meta["precision"] == "bf16"
    assert np.array_equal(reopened.train_index, np.arange(6) * 7) and reopened.labels.dtype == np.int64
    for name in FIELDS:
        got, got_clean = reopened.field(name), reopened.field(name, clean=True)
        assert got.dtype == np.float32 and got.shape == (2, 6)
        want = np.stack([w[0][name] for w in written]).astype(np.float16).astype(np.float32)
        want_clean = np.stack([w[1][name] for w in written]).astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(got, want)  # NaN positions compare equal
        np.testing.assert_array_equal(got_clean, want_clean)
    assert np.isnan(reopened.field("loss")[:, 2]).all() and np.isnan(reopened.field("margin")[1, 4])
    step = reopened.step()
    assert step.dtype == np.int32 and step[0, 2] == -1 and step[1, 4] == -1 and step[1, 5] == 15
    synth = reopened.synthetic()
    assert set(synth) == set(SYNTHETIC)
    for key, dtype in SYNTHETIC.items():
        want = np.concatenate([w[3][key] for w in written]).astype(dtype)
        assert synth[key].dtype == dtype and np.array_equal(synth[key], want)


def test_fresh_store_is_empty_and_files_are_nan_filled(tmp_path):
    store = _create(tmp_path, clean=False, capacity=0)
    assert store.field("loss").shape == (0, 6) and store.step().shape == (0, 6)
    assert all(v.shape == (0,) for v in store.synthetic().values())
    raw = np.load(tmp_path / "dynamics" / "p_true.npy")
    assert raw.dtype == np.float16 and raw.shape == (3, 6) and np.isnan(raw).all()
    assert (np.load(tmp_path / "dynamics" / "step.npy") == -1).all()
    assert not (tmp_path / "dynamics" / "clean_loss.npy").exists()
    assert not (tmp_path / "dynamics" / "synthetic_step.npy").exists()
    index = json.loads((tmp_path / "dynamics" / "index.json").read_text())
    assert index == {"epochs_done": 0, "synthetic_rows": 0, "epochs": 3, "clean": False,
                     "input": "adversarial", "precision": "bf16", "method": "pgd"}


def test_rows_written_without_index_are_invisible(tmp_path):
    """A writer killed after the rows but before index.json: readers see the last whole epoch only."""
    rng = np.random.default_rng(2)
    store = _create(tmp_path, capacity=5)
    seen = np.ones(6, bool)
    store.write_epoch(0, _stats(rng, 6, seen), np.arange(6), synthetic=_synthetic(rng, 2))
    before = store.field("loss")
    # The crash: epoch 1's rows reach the files, the index is never replaced.
    code = ("import sys, numpy as np\n"
            "import atlib.store.dynamics as s\n"
            "s.DynamicsStore._write_index = lambda *a: sys.exit(9)\n"
            f"st = s.DynamicsStore({str(tmp_path / 'dynamics')!r})\n"
            "st.write_epoch(1, {f: np.full(6, 5.0) for f in s.FIELDS}, np.arange(6),\n"
            "               synthetic={k: np.ones(2) for k in s.SYNTHETIC})\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (np.load(tmp_path / "dynamics" / "loss.npy")[1] == 5).all()  # the rows did land
    reopened = DynamicsStore(tmp_path / "dynamics")
    assert reopened.epochs_done == 1 and reopened.synthetic_rows == 2
    np.testing.assert_array_equal(reopened.field("loss"), before)
    # The resumed writer redoes epoch 1 over the orphan rows.
    reopened.write_epoch(1, {f: np.full(6, 2.0) for f in FIELDS}, np.arange(6), synthetic=_synthetic(rng, 1))
    assert (reopened.field("loss")[1] == 2).all() and reopened.synthetic_rows == 3


def test_truncate_forgets_later_epochs_and_rows(tmp_path):
    rng = np.random.default_rng(3)
    store = _create(tmp_path, capacity=6)
    for epoch in range(3):
        store.write_epoch(epoch, _stats(rng, 6, np.ones(6, bool)), np.arange(6) + epoch, synthetic=_synthetic(rng, 2))
    first = store.field("margin")[:1]
    store.truncate(1, 2)
    reopened = DynamicsStore(tmp_path / "dynamics")
    assert (reopened.epochs_done, reopened.synthetic_rows) == (1, 2)
    np.testing.assert_array_equal(reopened.field("margin"), first)
    assert len(reopened.synthetic()["index"]) == 2
    reopened.write_epoch(1, _stats(rng, 6, np.ones(6, bool)), np.arange(6), synthetic=_synthetic(rng, 2))
    assert reopened.epochs_done == 2 and reopened.synthetic_rows == 4
    with pytest.raises(ValueError, match="past what is recorded"):
        reopened.truncate(3, 0)


def test_bad_input_is_refused(tmp_path):
    rng = np.random.default_rng(4)
    store = _create(tmp_path, capacity=2)
    seen = np.ones(6, bool)
    with pytest.raises(ValueError, match="next epoch to write is 0"):
        store.write_epoch(1, _stats(rng, 6, seen), np.arange(6))
    store.write_epoch(0, _stats(rng, 6, seen), np.arange(6))
    with pytest.raises(ValueError, match="next epoch to write is 1"):
        store.write_epoch(0, _stats(rng, 6, seen), np.arange(6))
    with pytest.raises(ValueError, match="clean=False"):
        store.write_epoch(1, _stats(rng, 6, seen), np.arange(6), clean=_stats(rng, 6, seen))
    with pytest.raises(KeyError, match="need exactly"):
        store.write_epoch(1, {"loss": np.zeros(6)}, np.arange(6))
    with pytest.raises(ValueError, match=r"expected shape \(6,\)"):
        store.write_epoch(1, {f: np.zeros(5) for f in FIELDS}, np.arange(6))
    with pytest.raises(IndexError, match="capacity 2"):
        store.write_epoch(1, _stats(rng, 6, seen), np.arange(6), synthetic=_synthetic(rng, 3))
    with pytest.raises(KeyError, match="no clean statistics"):
        store.field("loss", clean=True)
    assert store.epochs_done == 1  # nothing above changed the index
    store.write_epoch(1, _stats(rng, 6, seen), np.arange(6))
    store.write_epoch(2, _stats(rng, 6, seen), np.arange(6))
    with pytest.raises(ValueError, match="of 3"):
        store.write_epoch(3, _stats(rng, 6, seen), np.arange(6))
    with pytest.raises(ValueError, match="store owns"):
        DynamicsStore.create(tmp_path / "other", 1, np.arange(2), np.zeros(2), clean=False, synthetic_capacity=0,
                             meta={"epochs": 5})
    with pytest.raises(FileNotFoundError, match="no training dynamics"):
        DynamicsStore(tmp_path / "missing")


def test_package_is_torch_free():
    code = "import sys, atlib.dynamics, atlib.store.dynamics; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
