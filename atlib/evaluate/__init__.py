"""Evaluation of trained models: the one home for clean, robust and corruption accuracy.

- :mod:`atlib.evaluate.corruptions`: CIFAR-10-C / CIFAR-100-C under both conventions in use;
- :mod:`atlib.evaluate.trained`: a run's model rebuilt from its checkpoint;
- ``python -m atlib.evaluate`` (:mod:`atlib.evaluate.__main__`): add results to finished runs.
"""

from atlib.lazy import lazy_names

# AutoAttack's versions and attacks (atlib.evaluate.autoattack), named here so that the CLI lists them without torch.
VERSIONS = ("standard", "rand", "custom")
ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")

_NAMES = {  # name: the submodule defining it, imported on first use
    **dict.fromkeys(["GENERATION_FILE", "add_cifar_c_metrics", "cifar_c_source", "evaluate_corruptions"], "corruptions"),
    **dict.fromkeys(["load_trained_model"], "trained"),
}
__getattr__ = lazy_names(__name__, _NAMES)
__all__ = sorted([*_NAMES, "ATTACKS", "VERSIONS"])
