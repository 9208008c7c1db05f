"""Evaluate trained models on CIFAR-10-C / CIFAR-100-C, under both conventions in use.

- The seed paper's (Hendrycks & Dietterich, as in Bayat & Rish Fig. 5/7/8): all 19 corruptions,
  severities pooled; accuracy per corruption and their mean.
- RobustBench's: the 15 common corruptions x 5 severities, and their mean.

Works with the released files or the ones ``python -m atlib.corruptions`` generates, and records
which were used. ``python -m atlib.evaluate RUN [RUN ...] --cifar-c DIR`` adds the result to
each finished run's final metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from atlib import data as atdata
from atlib.progress import bar, line
from atlib.data.extra import corrupted_info
from atlib.datasets import CIFAR_C_COMMON, CIFAR_C_CORRUPTIONS
from atlib.evaluate.accuracy import accuracy
from atlib.store.io import read_json
from atlib.evaluate.trained import load_trained_model
from atlib.store.runs import load_run
from atlib.store.writer import RunWriter

GENERATION_FILE = "generation.json"  # written beside generated files by atlib.corruptions


def cifar_c_source(dataset: str, root: str | Path) -> dict[str, Any]:
    """Which files a CIFAR-C root holds: ``released`` or ``generated`` (with its generation record)."""
    folder = Path(root)
    for candidate in (folder, folder / str(corrupted_info(dataset).corrupted)):
        if (candidate / GENERATION_FILE).exists():
            return {"kind": "generated", "root": str(candidate), "generation": read_json(candidate / GENERATION_FILE)}
        if (candidate / "labels.npy").exists():
            return {"kind": "released", "root": str(candidate)}
    raise FileNotFoundError(
        f"no CIFAR-C files under {folder}: expected <corruption>.npy files and labels.npy "
        f"(download CIFAR-10-C/CIFAR-100-C, or generate them with `python -m atlib.corruptions --dataset {dataset} --out DIR`)"
    )


def evaluate_corruptions(model: torch.nn.Module, dataset: str, root: str | Path, device: str | torch.device = "cpu",
                         batch_size: int = 1000, corruptions: Sequence[str] | None = None,
                         progress: bool = True) -> dict[str, Any]:
    """Accuracy on every available corruption and severity, batched on ``device``.

    Returns ``{"source", "accuracy": {corruption: [s1..s5]}, "pooled": {corruption: acc},
    "seed_paper_mean", "robustbench_mean", "missing"}``; a mean is None when a corruption it needs is missing.
    """
    source = cifar_c_source(dataset, root)
    wanted = list(corruptions or CIFAR_C_CORRUPTIONS)
    per_severity: dict[str, list[float]] = {}
    missing = []
    for corruption in bar(wanted, show=progress, desc="CIFAR-C", leave=False):
        if not (Path(source["root"]) / f"{corruption}.npy").exists():
            missing.append(corruption)
            continue
        per_severity[corruption] = [
            accuracy(model, *atdata.load_cifar_c(dataset, corruption, s, root=source["root"])[:2],
                     batch_size=batch_size, device=device)
            for s in range(1, 6)
        ]
        line(f"CIFAR-C {corruption}: accuracy {np.mean(per_severity[corruption]):.4f} over severities 1-5")
    pooled = {c: float(np.mean(v)) for c, v in per_severity.items()}  # equal-sized severity blocks
    all_19 = all(c in pooled for c in CIFAR_C_CORRUPTIONS)
    common = all(c in pooled for c in CIFAR_C_COMMON)
    return {
        "source": source,
        "accuracy": per_severity,
        "pooled": pooled,
        "seed_paper_mean": float(np.mean([pooled[c] for c in CIFAR_C_CORRUPTIONS])) if all_19 else None,
        "robustbench_mean": float(np.mean([pooled[c] for c in CIFAR_C_COMMON])) if common else None,
        "missing": missing,
    }


def add_cifar_c_metrics(run_path: str | Path, root: str | Path, device: str | torch.device = "cpu",
                        batch_size: int = 1000) -> dict[str, Any]:
    """Evaluate a finished run's final model on CIFAR-C and store the result in its final metrics."""
    with RunWriter.reopen(run_path) as writer:
        run = load_run(run_path)
        result = evaluate_corruptions(load_trained_model(run_path, device), run.config.dataset, root, device, batch_size)
        writer.update_metrics(cifar_c=result)
    return result
