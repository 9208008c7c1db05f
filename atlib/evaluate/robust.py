"""Robust accuracy as reported in a run's metrics: PGD on a class-balanced, deterministic subset of
the test set, in fp32, with the rows and the attack's settings stored beside the result.

Test sets are ordered by class (ImageFolder layouts, and every ``balanced_subset``), so "the first
n test images" would measure one class. The rows here take each class's earliest examples in
equal shares, so every run of a setting attacks the same images and seeds are comparable.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from atlib import progress
from atlib.attacks import default_alpha
from atlib.evaluate.accuracy import correct_predictions, pgd_attack
from atlib.subsets import balanced_subset


def robust_rows(labels: np.ndarray, n: int) -> np.ndarray:
    """The ``min(n, len(labels))`` class-balanced rows robust accuracy is measured on (sorted)."""
    return balanced_subset(np.asarray(labels), min(int(n), len(labels)))


def pgd_evaluation(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    eps_255: Sequence[float],
    n: int,
    steps: int = 20,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> dict[str, Any]:
    """Clean and PGD-``steps`` accuracy (L-inf, one random start, step ``2.5 eps / steps``) at each
    budget in ``eps_255`` (1/255 units) on :func:`robust_rows` of ``(images, labels)``.

    The random starts come from a generator seeded with ``seed`` (the caller's RNG is left as it
    was), so a re-evaluation attacks with the same starts. Returns a JSON-ready dict: ``rows``
    (indices into ``images``), ``per_class`` counts, ``clean_acc`` on those rows, ``robust_acc`` per
    budget (keys like ``"8"``), and the attack's ``steps``, ``step_size_255``, ``restarts`` and ``precision``;
    ``per_image`` holds the bool (n,) correctness arrays (``"clean"`` and one per budget) for callers
    that store them.
    """
    rows = robust_rows(labels, n)
    x, y = images[rows], np.asarray(labels)[rows]
    device = torch.device(device)
    per_image = {"clean": correct_predictions(model, x, y, batch_size, device)}
    devices = [device] if device.type == "cuda" else []
    for eps in eps_255:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            attack = pgd_attack(model, eps / 255, steps=steps)
            per_image[f"{eps:g}"] = correct_predictions(model, x, y, batch_size, device, attack)
        progress.line(f"PGD-{steps} eps {eps:g}/255: robust accuracy {per_image[f'{eps:g}'].mean():.4f} on {len(rows)} test "
                      f"images (clean {per_image['clean'].mean():.4f})")
    classes, counts = np.unique(y, return_counts=True)
    return {
        "attack": "PGD (L-inf, random start)",
        "n": int(len(rows)),
        "rows": rows.tolist(),
        "per_class": {int(c): int(k) for c, k in zip(classes, counts)},
        "steps": int(steps),
        "step_size_255": {f"{eps:g}": default_alpha(eps, steps) for eps in eps_255},
        "restarts": 1,
        "precision": "fp32",
        "seed": int(seed),
        "clean_acc": float(per_image["clean"].mean()),
        "robust_acc": {f"{eps:g}": float(per_image[f"{eps:g}"].mean()) for eps in eps_255},
        "per_image": per_image,
    }
