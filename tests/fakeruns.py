"""Write run folders with chosen records through the run folder's writer (atlib.store.writer.RunWriter), as
training does, without training.

Analysis, plot, explorer and sweep tests use it to get runs with known values in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from atlib.config import TrainConfig
from atlib.store.dynamics import FIELDS, DynamicsStore
from atlib.store.runs import load_run
from atlib.store.writer import RunWriter


def make_run(out_dir: Path, config: TrainConfig, probs: np.ndarray, labels: np.ndarray,
             neg_probs: np.ndarray | None = None, neg_labels: np.ndarray | None = None,
             metrics: dict[str, Any] | None = None, complete: bool = True, probe_probs: np.ndarray | None = None,
             probe_labels: np.ndarray | None = None, probe_index: np.ndarray | None = None,
             train_index: np.ndarray | None = None, test_index: np.ndarray | None = None) -> Path:
    """A run folder holding ``probs`` (T, N, C) as its test records (and NEG and training-probe records if
    given; ``probe_index``: the probe's rows of the training set, default the first ones; ``train_index``: the
    training set's rows of the full one, default all rows up to the probe's last; ``test_index``: the test set's rows of the full one, default
    the first N)."""
    config = config.replace(out_dir=str(out_dir))
    writer = RunWriter.open(config, lock=False)
    writer.write_meta(atlib_version="test", started="2026-01-01T00:00:00")
    t, n, c = probs.shape
    sets = {"test": labels} | ({"neg": neg_labels} if neg_probs is not None else {})
    sets |= {"probe": probe_labels} if probe_probs is not None else {}
    rows = {"test": np.arange(n) if test_index is None else np.asarray(test_index)}
    if probe_probs is not None:
        probe_index = np.arange(len(probe_labels)) if probe_index is None else np.asarray(probe_index)
        train_index = np.arange(int(probe_index.max()) + 1) if train_index is None else np.asarray(train_index)
        rows |= {"probe": probe_index, "train": train_index}
    store = writer.records(t, sets, c, rows, points=None)
    writer.cut_back(store, None)
    for k in range(t):
        accs = {"test": float((probs[k].argmax(-1) == labels).mean())}
        point_probs = {"test": probs[k]}
        if neg_probs is not None:
            accs["neg"] = float((neg_probs[k].argmax(-1) == neg_labels).mean())
            point_probs["neg"] = neg_probs[k]
        if probe_probs is not None:
            point_probs["probe"] = probe_probs[k]
        point = {"epoch": (k + 1) / config.record_per_epoch, "step": k + 1, "lr": config.lr, "train_loss": 1.0 / (k + 1),
                 "train_acc": accs["test"], "test_acc": accs["test"], "neg_acc": accs.get("neg"), "time": 0.0}
        store.append(point, point_probs)
        writer.log_point(point)
    if complete:
        writer.finish(metrics or {"clean_acc": accs["test"], "neg_acc": accs.get("neg"), "robust_acc": {}})
    return writer.path


def random_probs(rng: np.random.Generator, t: int, n: int, c: int, sharpen: float = 1.0) -> np.ndarray:
    """Random softmax rows that grow more confident over time (a plausible learning curve)."""
    logits = rng.normal(size=(t, n, c)) * (1 + sharpen * np.arange(t)[:, None, None])
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def make_dynamics(run_dir: Path, labels: np.ndarray, correct: np.ndarray, p_true: np.ndarray | None = None,
                  margin: np.ndarray | None = None, loss: np.ndarray | None = None, clean: dict[str, np.ndarray] | None = None,
                  synthetic: dict[str, np.ndarray] | None = None, train_index: np.ndarray | None = None) -> DynamicsStore:
    """Write ``run_dir/dynamics`` holding (E, N) arrays (NaN: not presented) as the training loop would.

    ``p_true``, ``margin`` and ``loss`` default to values consistent with ``correct`` (0.8 / 1 / 0.2 when
    correct, 0.2 / -1 / 1.6 when not); ``clean``: the same four fields (or None); ``synthetic``: rows
    with the keys of :data:`atlib.dynamics.SYNTHETIC`, all written with the first epoch.
    """
    correct = np.asarray(correct, dtype=np.float64)
    given = {"correct": correct, "p_true": p_true, "margin": margin, "loss": loss}
    default = {"p_true": 0.2 + 0.6 * correct, "margin": 2 * correct - 1, "loss": 1.6 - 1.4 * correct}
    stats = {k: np.asarray(default[k] if v is None else v, dtype=np.float64) for k, v in given.items()}
    epochs, n = correct.shape
    run = load_run(run_dir)
    method = run.config.method
    stored = run.train_index() if run.records.has_rows("train") else None
    train_index = (np.arange(n) if stored is None else stored) if train_index is None else np.asarray(train_index)
    if stored is not None and not np.array_equal(stored, train_index):
        raise ValueError("make_dynamics: give make_run the same train_index (training writes it with the probe's rows)")
    writer = RunWriter(Path(run_dir), None)
    store = writer.dynamics(0, 0, False, dict(
        epochs=epochs, train_index=train_index, labels=labels, clean=clean is not None,
        synthetic_capacity=len(next(iter(synthetic.values()))) if synthetic else 0,
        meta={"input": "clean" if method == "nt" else "adversarial", "precision": "fp32", "method": method}))
    for e in range(epochs):
        step = np.where(np.isfinite(correct[e]), e * n + np.arange(n), -1)
        store.write_epoch(e, {f: stats[f][e] for f in FIELDS}, step,
                          clean={f: np.asarray(clean[f], np.float64)[e] for f in FIELDS} if clean is not None else None,
                          synthetic=synthetic if synthetic and e == 0 else None)
    return store
