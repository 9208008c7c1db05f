"""The explorer's per-image "robust under AutoAttack", read from the per-image results that
``python -m atlib.evaluate --autoattack`` stores in each run's metrics.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atlib.config import TrainConfig
from atlib.explorer.profileset import _robust_text, autoattack_per_image
from atlib.store.runs import group_seeds, load_runs
from fakeruns import make_run, random_probs


def test_robust_under_autoattack_per_image_and_seed(tmp_path: Path) -> None:
    labels = np.repeat(np.arange(10), 2)
    per_seed = [([0, 5, 9], [True, False, True]), ([0, 5], [True, True])]  # record rows attacked, robust or not
    for seed, (rows, robust) in enumerate(per_seed):
        metrics = {"clean_acc": 0.9, "robust_acc": {"8": 0.5},
                   "autoattack": {"rows": rows, "robust_acc": {"8": float(np.mean(robust))},
                                  "per_image": {"2": {"robust": [True] * len(rows)}, "8": {"robust": robust}}}}
        make_run(tmp_path, TrainConfig(model="small_cnn", method="at", seed=seed), random_probs(np.random.default_rng(seed), 2, 20, 10),
                 labels, metrics=metrics)
    (group,) = group_seeds(load_runs(tmp_path))
    budget, flags = autoattack_per_image(group, 20)
    assert budget == "8"  # the training budget, though 2/255 was evaluated too
    np.testing.assert_array_equal(flags[:, [0, 5, 9]], [[1, 0, 1], [1, 1, np.nan]])
    assert np.isnan(flags[:, 1]).all()
    assert _robust_text((budget, flags), 0) == "yes, 2 of 2 seeds (ε=8/255)"
    assert _robust_text((budget, flags), 5) == "partly, 1 of 2 seeds (ε=8/255)"
    assert _robust_text((budget, flags), 9) == "yes, 1 of 1 seed (ε=8/255)"
    assert _robust_text((budget, flags), 1) == "not evaluated" and _robust_text(None, 0) == "not evaluated"
