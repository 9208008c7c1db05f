"""The evaluation a run gets when its training ends, stored as its final metrics: clean and NEG accuracy (from
the last record point), PGD robust accuracy on class-balanced rows, and CIFAR-C when a root was given."""

from __future__ import annotations

from typing import Any

import torch

from atlib.config import TrainConfig
from atlib.evaluate.robust import pgd_evaluation
from atlib.train.inputs import RunData


def final_metrics(config: TrainConfig, model: torch.nn.Module, data: RunData, clean_acc: float, neg_acc: float | None,
                   device: torch.device) -> dict[str, Any]:
    """Clean, NEG and robust accuracy of the final model (and CIFAR-C when a root is given), all in fp32.

    Robust accuracy is PGD on a class-balanced subset of ``robust_eval_n`` test rows (see
    :mod:`atlib.evaluate.robust`); ``robust_eval`` holds those rows (as indices of the full test
    set), their per-class counts, the clean accuracy on them and the attack's settings.
    """
    metrics: dict[str, Any] = {"clean_acc": clean_acc, "neg_acc": neg_acc, "robust_acc": {}}
    budgets = sorted(set(config.robust_eval_eps_255) | ({config.epsilon_255} if config.epsilon_255 > 0 else set()))
    if config.robust_eval_n > 0:
        result = pgd_evaluation(model, data.test.images, data.test.labels, budgets, config.robust_eval_n,
                                steps=config.robust_eval_steps, batch_size=config.eval_batch_size, device=device,
                                seed=config.seed)
        result.pop("per_image")
        result["test_index"] = data.test_index[result["rows"]].tolist()
        metrics["robust_acc"] = result.pop("robust_acc")
        metrics["robust_eval"] = result
    if config.cifar_c_root is not None:
        from atlib.evaluate import evaluate_corruptions

        metrics["cifar_c"] = evaluate_corruptions(model, config.dataset, root=data.inputs["cifar_c_root"], device=device,
                                                  batch_size=config.eval_batch_size, progress=config.progress)
    return metrics
