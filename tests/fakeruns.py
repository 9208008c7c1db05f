"""Write run folders with chosen records, exactly as atlib.train lays them out, without training.

Analysis, plot, explorer and sweep tests use it to get runs with known values in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from atlib.config import TrainConfig
from atlib.io import save_npy, write_json
from atlib.records import RecordStore


def make_run(out_dir: Path, config: TrainConfig, probs: np.ndarray, labels: np.ndarray,
             neg_probs: np.ndarray | None = None, neg_labels: np.ndarray | None = None,
             metrics: dict[str, Any] | None = None, complete: bool = True) -> Path:
    """A run folder holding ``probs`` (T, N, C) as its test records (and NEG records if given)."""
    config = config.replace(out_dir=str(out_dir))
    run_dir = Path(out_dir) / config.run_name
    write_json(run_dir / "config.json", config.to_dict())
    write_json(run_dir / "meta.json", {"atlib_version": "test", "started": "2026-01-01T00:00:00"})
    t, n, c = probs.shape
    sets = {"test": labels} | ({"neg": neg_labels} if neg_probs is not None else {})
    save_npy(run_dir / "records" / "test_index.npy", np.arange(n))
    store = RecordStore.create(run_dir / "records", t, sets, c)
    for k in range(t):
        accs = {"test": float((probs[k].argmax(-1) == labels).mean())}
        point_probs = {"test": probs[k]}
        if neg_probs is not None:
            accs["neg"] = float((neg_probs[k].argmax(-1) == neg_labels).mean())
            point_probs["neg"] = neg_probs[k]
        store.append({"epoch": (k + 1) / config.record_per_epoch, "step": k + 1, "lr": config.lr, "train_loss": 1.0 / (k + 1),
                      "train_acc": accs["test"], "test_acc": accs["test"], "neg_acc": accs.get("neg"), "time": 0.0}, point_probs)
    if complete:
        write_json(run_dir / "metrics.json", metrics or {"clean_acc": accs["test"], "neg_acc": accs.get("neg"), "robust_acc": {}})
    return run_dir


def random_probs(rng: np.random.Generator, t: int, n: int, c: int, sharpen: float = 1.0) -> np.ndarray:
    """Random softmax rows that grow more confident over time (a plausible learning curve)."""
    logits = rng.normal(size=(t, n, c)) * (1 + sharpen * np.arange(t)[:, None, None])
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)
