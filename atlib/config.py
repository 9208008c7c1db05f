"""The training configuration: one dataclass whose defaults are the paper's setting.

Kept free of torch so that analysis code can read a run's config without it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

DATASETS = ("cifar10", "cifar100")
METHODS = ("nt", "at")
BN_MODES = ("eval", "train")

# Fields that say how/where a run executes, not what it computes: they may differ
# between a run's first start and its resumption.
EXECUTION_FIELDS = frozenset({"device", "compile", "out_dir", "name", "progress", "data_root", "neg_path", "cifar_c_root"})


@dataclass
class TrainConfig:
    """Everything that determines a training run. Defaults reproduce Section 3 of the paper:
    SGD (momentum 0.9), lr 0.1 decayed x0.1 at epochs 70 and 90, batch 128, weight decay 1e-4,
    120 epochs; AT uses PGD-10 with a random start."""

    dataset: str = "cifar10"
    model: str = "resnet18"
    method: str = "at"
    epsilon_255: float = 8.0  # attack budget in 1/255 units: 8 means 8/255. Forced to 0 for NT.
    pgd_steps: int = 10
    pgd_alpha_255: float | None = None  # None: 2.5 * epsilon / steps (2/255 for 8/255, 10 steps)
    attack_bn_mode: str = "eval"  # BN statistics used while crafting training attacks (see atlib.attacks.pgd)
    seed: int = 0

    epochs: int = 120
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: tuple[int, ...] = (70, 90)
    lr_gamma: float = 0.1

    synthetic: str | None = None  # path to a Wang et al. (2023) style .npz of generated images
    synthetic_fraction: float = 0.5  # share of every batch drawn from the synthesized set
    synthetic_tag: str = "synth"  # how the synthesized set is named in the run name (e.g. "standin")

    record_per_epoch: int = 1  # record points per epoch (the paper's authors used several)
    train_subset: int | None = None  # first-class-balanced subset sizes for CPU-sized runs
    test_subset: int | None = None
    robust_eval_eps_255: tuple[float, ...] = (8.0,)  # PGD-20 robust accuracy at these budgets (plus the training one)
    robust_eval_n: int = 1000  # robust accuracy on this many test examples (the first of the test set)
    robust_eval_steps: int = 20

    device: str = "auto"  # "auto": cuda if available, else cpu
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True
    compile: bool = False
    deterministic: bool = False  # torch.use_deterministic_algorithms for bitwise-reproducible GPU runs
    eval_batch_size: int = 1000

    data_root: str | None = None  # CIFAR root (else $ATLIB_DATA, then ./data)
    neg_path: str | None = None  # CIFAR10_neg.npz (else searched); recorded only for cifar10
    cifar_c_root: str | None = None  # evaluate CIFAR-C at the end when given
    out_dir: str = "outputs/runs"
    name: str | None = None  # run folder name; default derived from the config (see run_name)
    progress: bool = True

    def __post_init__(self) -> None:
        self.lr_milestones = tuple(int(m) for m in self.lr_milestones)
        self.robust_eval_eps_255 = tuple(float(e) for e in self.robust_eval_eps_255)
        if self.method == "nt":
            self.epsilon_255 = 0.0
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a fix for every inconsistent field."""
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be 'nt' (natural) or 'at' (PGD adversarial training), got {self.method!r}")
        if self.attack_bn_mode not in BN_MODES:
            raise ValueError(f"attack_bn_mode must be one of {BN_MODES}, got {self.attack_bn_mode!r}")
        if self.epsilon_255 < 0 or self.epsilon_255 > 255:
            raise ValueError(f"epsilon_255 is in 1/255 units (8 means 8/255); got {self.epsilon_255}")
        if 0 < self.epsilon_255 < 1 and self.method == "at":
            raise ValueError(
                f"epsilon_255={self.epsilon_255} looks like a [0, 1] pixel value; epsilon_255 is in 1/255 units: "
                f"use epsilon_255={self.epsilon_255 * 255:g} for {self.epsilon_255:g} in pixel units"
            )
        if self.method == "at" and self.epsilon_255 == 0:
            raise ValueError("method 'at' needs epsilon_255 > 0; use method 'nt' for natural training")
        for name in ("pgd_steps", "epochs", "batch_size", "record_per_epoch", "eval_batch_size", "robust_eval_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.synthetic_fraction < 1:
            raise ValueError(f"synthetic_fraction must be in [0, 1), got {self.synthetic_fraction}")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError("need lr > 0, weight_decay >= 0 and 0 <= momentum < 1")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {self.lr_milestones}")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive number of examples or None, got {value}")
        if self.robust_eval_n < 0:
            raise ValueError("robust_eval_n must be >= 0 (0 skips robust evaluation)")

    @property
    def epsilon(self) -> float:
        """The attack budget in [0, 1] pixel units."""
        return self.epsilon_255 / 255.0

    @property
    def uses_synthetic(self) -> bool:
        return self.synthetic is not None and self.synthetic_fraction > 0

    @property
    def run_name(self) -> str:
        """Stable folder name, e.g. ``cifar10_resnet18_at8_synth0.5_s0`` or ``cifar10_resnet18_nt_s0``."""
        if self.name:
            return self.name
        method = "nt" if self.method == "nt" else f"at{self.epsilon_255:g}"
        synth = f"_{self.synthetic_tag}{self.synthetic_fraction:g}" if self.uses_synthetic else ""
        return f"{self.dataset}_{self.model}_{method}{synth}_s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lr_milestones"] = list(self.lr_milestones)
        out["robust_eval_eps_255"] = list(self.robust_eval_eps_255)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; valid fields: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def conflicts_with(self, stored: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Fields (other than execution-only ones) whose value differs from a stored config."""
        mine = self.to_dict()
        return {
            key: (stored.get(key), mine[key])
            for key in mine
            if key not in EXECUTION_FIELDS and _normalise(stored.get(key)) != _normalise(mine[key])
        }


def _normalise(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The multi-step schedule as a pure function of the epoch, so resuming needs no scheduler state."""
    decays = sum(1 for m in config.lr_milestones if epoch >= m)
    return config.lr * config.lr_gamma**decays


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's full setting (Section 3): ResNet-18, 120 epochs, PGD-10. Several record points per epoch.
    "paper": dict(model="resnet18", epochs=120, batch_size=128, record_per_epoch=4),
    # A CPU-sized run on a CIFAR-10 subset with the small CNN: the README's demo (`python -m atlib demo`).
    "demo": dict(
        model="small_cnn", epochs=4, lr_milestones=(3,), train_subset=2500, test_subset=500, pgd_steps=2,
        record_per_epoch=2, robust_eval_n=200, robust_eval_steps=5, eval_batch_size=500,
    ),
}
