"""Evaluation of trained models: the one home for clean, robust and corruption accuracy.

- :mod:`atlib.evaluate.corruptions`: CIFAR-10-C / CIFAR-100-C under both conventions in use;
- :mod:`atlib.evaluate.trained`: a run's model rebuilt from its checkpoint;
- ``python -m atlib.evaluate`` (:mod:`atlib.evaluate.__main__`): add results to finished runs.
"""

from atlib.evaluate.corruptions import GENERATION_FILE, add_cifar_c_metrics, cifar_c_source, evaluate_corruptions
from atlib.evaluate.trained import load_trained_model

__all__ = ["GENERATION_FILE", "add_cifar_c_metrics", "cifar_c_source", "evaluate_corruptions", "load_trained_model"]
