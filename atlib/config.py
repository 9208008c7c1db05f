"""The training configuration: one dataclass whose defaults are the paper's setting, and the one
way in for every source of settings (CLI, sweep grids, notebooks, the demo): :meth:`TrainConfig.from_overrides`.

Kept free of torch so that analysis code can read a run's config without it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from atlib import methods as method_table
from atlib.datasets import DATASET_INFO
from atlib.methods import AWP_METHODS, BN_MODES, EXTERNAL, OPTIONS, SOURCES

if TYPE_CHECKING:
    import torch

# The method field's values: the training methods of atlib.methods, and "external" for runs recorded from
# checkpoints trained elsewhere (source "external", atlib.evaluate.external), which are never trained here.
METHODS = (*method_table.METHODS, EXTERNAL)
TRAINED_METHODS = tuple(method_table.METHODS)
SWITCHES = ("auto", "on", "off")  # "auto": on for CUDA, off for the CPU
# The built-in architectures (atlib.models builds them); named here so that the CLI lists them without torch.
MODEL_NAMES = ("resnet18", "preact_resnet18", "wrn28_10", "small_cnn", "wrn34_10")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
# The one search rule for data, stated by every data-root option (implemented in atlib.data.sources).
DATA_ROOT_RULE = ("given, it alone is searched (an error if the data are not there); unset: $ATLIB_DATA, then ./data, "
                  "then torchvision's download when online")
# Fields naming a file or folder (shown as PATH by the CLI).
PATH_FIELDS = frozenset({"synthetic", "data_root", "neg_path", "cifar_c_root", "out_dir"})

# Fields that say how/where a run executes, not what it computes: they may differ
# between a run's first start and its resumption.
# ``synthetic`` is a path, which moves with a repository: a run's synthesized set is identified by its
# content hash, recorded in the run's meta data at the start and checked on every resumption (atlib.train).
# ``model_module`` names where the code building a registered model lives, which may move too; a resume without it
# imports the one recorded in the run's stored config.
EXECUTION_FIELDS = frozenset({
    "device", "compile", "channels_last", "out_dir", "name", "progress", "data_root", "neg_path", "cifar_c_root", "model_module",
    "dist_timeout_min", "synthetic", "tensorboard",
})
# Fields that change nothing in a run's results (what is trained, and what its records and metrics
# measure): runs that differ only in these are one recipe. Comparisons between runs (the claims'
# recipe check) ignore them; every other field counts, ``test_subset``, ``record_per_epoch``,
# ``robust_eval_n`` and ``amp`` included.
RESULT_NEUTRAL_FIELDS = EXECUTION_FIELDS | frozenset({
    "eval_batch_size", "deterministic", "record_train", "record_train_clean", "train_probe_size",
})


def option(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A :class:`TrainConfig` field with its one line of help and, for a closed set of values, its choices:
    the single source of the CLI's ``--help`` and of the documentation."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """Everything that determines a training run. Defaults reproduce Section 3 of the paper:
    SGD (momentum 0.9), lr 0.1 decayed x0.1 at epochs 70 and 90, batch 128, weight decay 1e-4,
    120 epochs; AT uses PGD-10 with a random start."""

    dataset: str = option("cifar10", "dataset to train on (atlib.datasets)", choices=tuple(DATASET_INFO))
    model: str = option("resnet18", f"architecture: {', '.join(MODEL_NAMES)}, or a name registered with "
                                    "atlib.models.register_model (see model_module)")
    model_module: str | None = option(None, "a Python module (e.g. mylab.models) that registers models with "
                                            "atlib.models.register_model, imported before the model is built; recorded, "
                                            "so a resume, a sweep worker or a Slurm job imports it too")
    method: str = option("at", "training method: nt natural, at PGD adversarial training (Madry et al.), trades, mart, "
                               "fgsm_rs (FGSM with a random start)", choices=TRAINED_METHODS)
    epsilon_255: float = option(8.0, "attack budget in 1/255 units: 8 means 8/255; forced to 0 for nt")
    pgd_steps: int = option(10, "PGD steps of the training attack")
    pgd_alpha_255: float | None = option(None, "PGD step size in 1/255 units; unset: 2.5 * epsilon / steps (2/255 for 8/255 and 10 steps)")
    attack_bn_mode: str | None = option(None, "BatchNorm statistics used while crafting training attacks (see "
                                              "atlib.attacks.pgd); unset: the method's, as its reference code "
                                              "(train for fgsm_rs, eval for the others; docs/methods.md)", choices=BN_MODES)
    trades_beta: float = option(6.0, "TRADES (Zhang et al. 2019): weight of KL(p(x) || p(x_adv))")
    mart_beta: float = option(6.0, "MART (Wang et al. 2020): weight of its KL term (the authors use 5 for ResNet-18)")
    awp_gamma: float | None = option(None, "AWP (Wu et al. 2020) on at/trades: perturbation size, the papers' 0.01 (AT) "
                                           "or 0.005 (TRADES); unset: no AWP")
    awp_warmup: int | None = option(None, "AWP applies from the epoch numbered awp_warmup, epochs numbered as the method's "
                                          "reference numbers them (AT-AWP from 0, TRADES-AWP from 1); unset: 0 for at, "
                                          "10 for trades")
    ema_decay: float | None = option(None, "weight EMA of any method, e.g. 0.999, recorded beside the raw model; unset: no EMA")
    ema_warmup: bool = option(True, "EMA as DM-Improves-AT: decay min(ema_decay, (1+t)/(10+t)) after the first 1/40 of the steps "
                                    "and BN statistics copied from the model; off: a constant decay, BN statistics averaged")
    reference_step: bool = option(True, "each method's step as its reference code (TRADES's three train-mode forwards, "
                                        "AWP's epoch numbering); off: atlib's earlier step, kept by runs stored without it")
    source: str = option("trained", "where the run came from: trained here, or external (recorded from checkpoints "
                                    "trained elsewhere, method external)", choices=SOURCES)
    seed: int = option(0, "random seed (>= 0) of initialisation, batches, augmentation and attacks")

    epochs: int = option(120, "training epochs")
    batch_size: int = option(128, "training batch size")
    lr: float = option(0.1, "initial SGD learning rate")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(1e-4, "SGD weight decay")
    lr_milestones: tuple[int, ...] = option((70, 90), "epochs at which the learning rate is multiplied by lr_gamma")
    lr_gamma: float = option(0.1, "learning-rate decay factor at each milestone")

    synthetic: str | None = option(None, "a Wang et al. (2023) style .npz of generated images mixed into every batch")
    synthetic_fraction: float = option(0.5, "share of every batch drawn from the synthesized set, in [0, 1)")
    synthetic_tag: str = option("synth", "how the synthesized set is named in the run name (e.g. standin)")

    record_per_epoch: int = option(1, "record points per epoch (the paper's authors used several)")
    record_train: bool = option(True, "record per-example loss, correctness, p_true and margin of every training "
                                      "presentation (atlib.dynamics)")
    record_train_clean: bool = option(False, "with record_train: also an eval-mode forward of each clean batch "
                                             "(one more forward per step)")
    train_probe_size: int | None = option(None, "training examples recorded like the test set at every record point; "
                                                "unset: min(5000, N/2); 0: none")
    train_subset: int | None = option(None, "train on a class-balanced subset of this many images (CPU-sized runs); unset: all")
    test_subset: int | None = option(None, "test on a class-balanced subset of this many images; unset: all")
    robust_eval_eps_255: tuple[float, ...] = option((8.0,), "final PGD robust accuracy at these budgets in 1/255 units "
                                                            "(plus the training one)")
    robust_eval_n: int = option(1000, "final robust accuracy on this many class-balanced test images (0: skip)")
    robust_eval_steps: int = option(20, "PGD steps of the final robust evaluation")

    device: str = option("auto", "cpu, cuda, cuda:N or auto (cuda if available, else cpu)")
    amp: str = option("auto", "bf16 autocast of the training step (auto: on CUDA only)", choices=SWITCHES)
    channels_last: str = option("auto", "channels_last memory format (auto: on CUDA only)", choices=SWITCHES)
    compile: bool = option(False, "torch.compile the model (inductor; on the CPU it needs a C compiler)")
    sync_bn: bool = option(False, "DDP only: SyncBatchNorm (statistics over all ranks) instead of per-rank BatchNorm")
    dist_timeout_min: float = option(120.0, "DDP process-group timeout in minutes: covers rank 0's final evaluation")
    deterministic: bool = option(False, "torch.use_deterministic_algorithms, for bitwise-reproducible GPU runs")
    eval_batch_size: int = option(1000, "batch size of recording and evaluation")

    data_root: str | None = option(None, f"folder (or archive) holding the dataset: {DATA_ROOT_RULE}")
    neg_path: str | None = option(None, "CIFAR10_neg.npz (an error if missing); unset: looked for beside the data; "
                                        "only for a dataset with a NEG set (cifar10)")
    cifar_c_root: str | None = option(None, "CIFAR-C evaluated at the end: a folder (released or generated), or auto to find "
                                            "it with the data search rule; unset: none")
    out_dir: str = option("outputs/runs", "folder holding the run folders")
    name: str | None = option(None, "run folder name; unset: derived from the config, e.g. cifar10_resnet18_at8_s0")
    progress: bool = option(True, "a progress bar on a terminal (the per-epoch line is always printed)")
    tensorboard: bool = option(False, "also write the record points' curves to <run>/tb/ for TensorBoard (needs the "
                                      "tensorboard package; the run's JSON-lines log is always written)")

    def __post_init__(self) -> None:
        self.lr_milestones = tuple(int(m) for m in self.lr_milestones)
        self.robust_eval_eps_255 = tuple(float(e) for e in self.robust_eval_eps_255)
        if self.method == "nt":
            self.epsilon_255 = 0.0
        if self.attack_bn_mode is None and self.method in method_table.METHODS:
            self.attack_bn_mode = method_table.METHODS[self.method].bn_mode
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with a fix for every inconsistent field. Cheap, so every source of settings
        (CLI, grid, notebook) fails here, before any folder is made."""
        for name, value in self._floats():
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed}")
        check_device(self.device)
        if self.dataset not in DATASET_INFO:  # read here, so that a dataset added to the table is valid at once
            raise ValueError(f"dataset must be one of {', '.join(DATASET_INFO)} (atlib.datasets), got {self.dataset!r}")
        names = (*method_table.METHODS, EXTERNAL)  # read here, so that a method added to the table is valid at once
        if self.method not in names:
            raise ValueError(f"method must be one of {', '.join(names)} ('nt': natural, 'at': PGD adversarial training), "
                             f"got {self.method!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if (self.source == EXTERNAL) != (self.method == EXTERNAL):
            raise ValueError("source 'external' (a run recorded from checkpoints trained elsewhere) goes with method "
                             f"'external' and only with it; got source {self.source!r}, method {self.method!r}")
        for name in ("trades_beta", "mart_beta"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0 (0 drops the regulariser), got {getattr(self, name)}")
        if self.awp_gamma is not None:
            if self.method not in AWP_METHODS:
                raise ValueError(f"awp_gamma (AWP) applies to methods {' and '.join(AWP_METHODS)}, not {self.method!r}")
            if not self.awp_gamma >= 0:
                raise ValueError(f"awp_gamma must be >= 0, got {self.awp_gamma}")
        if self.awp_warmup is not None and (self.awp_gamma is None or self.awp_warmup < 0):
            raise ValueError("awp_warmup needs awp_gamma (AWP on) and must be >= 0 epochs")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), e.g. 0.999, or None for no EMA; got {self.ema_decay}")
        for name in ("amp", "channels_last"):
            if getattr(self, name) not in SWITCHES:
                raise ValueError(f"{name} must be one of {SWITCHES} ('auto': on for CUDA, off for the CPU), "
                                 f"got {getattr(self, name)!r}")
        if self.dist_timeout_min <= 0:
            raise ValueError(f"dist_timeout_min must be > 0 minutes, got {self.dist_timeout_min}")
        if self.attack_bn_mode not in BN_MODES and not (self.attack_bn_mode is None and self.method == EXTERNAL):
            raise ValueError(f"attack_bn_mode must be one of {BN_MODES}, got {self.attack_bn_mode!r}")
        if self.epsilon_255 < 0 or self.epsilon_255 > 255:
            raise ValueError(f"epsilon_255 is in 1/255 units (8 means 8/255); got {self.epsilon_255}")
        adversarial = self.method in method_table.METHODS and method_table.METHODS[self.method].adversarial
        if 0 < self.epsilon_255 < 1 and adversarial:
            raise ValueError(
                f"epsilon_255={self.epsilon_255} looks like a [0, 1] pixel value; epsilon_255 is in 1/255 units: "
                f"use epsilon_255={self.epsilon_255 * 255:g} for {self.epsilon_255:g} in pixel units"
            )
        if adversarial and self.epsilon_255 == 0:
            raise ValueError(f"method {self.method!r} needs epsilon_255 > 0; use method 'nt' for natural training")
        for name in ("pgd_steps", "epochs", "batch_size", "record_per_epoch", "eval_batch_size", "robust_eval_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.synthetic_fraction < 1:
            raise ValueError(f"synthetic_fraction must be in [0, 1), got {self.synthetic_fraction}")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError("need lr > 0, weight_decay >= 0 and 0 <= momentum < 1")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {self.lr_milestones}")
        if self.record_train_clean and not self.record_train:
            raise ValueError("record_train_clean adds a clean forward to the training records: it needs record_train")
        if self.train_probe_size is not None and self.train_probe_size < 0:
            raise ValueError(f"train_probe_size must be >= 0 (0: no probe; None: min(5000, N/2)), got {self.train_probe_size}")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive number of examples or None, got {value}")
        if self.robust_eval_n < 0:
            raise ValueError("robust_eval_n must be >= 0 (0 skips robust evaluation)")
        if not all(0 < eps <= 255 for eps in self.robust_eval_eps_255):
            raise ValueError(f"robust_eval_eps_255 are budgets in 1/255 units in (0, 255], got {self.robust_eval_eps_255}")
        if self.name is not None and (self.name in ("", ".", "..") or any(c in self.name for c in "/\\\0")):
            raise ValueError(f"name is the run folder's name inside out_dir, not a path; got {self.name!r}")
        if self.lr_milestones and self.lr_milestones[0] < 0:
            raise ValueError(f"lr_milestones are epochs >= 0, got {self.lr_milestones}")

    def _floats(self) -> list[tuple[str, float]]:
        """Every float value of the config, by field (each budget of a tuple field on its own)."""
        out = []
        for name, hint in field_types(type(self)).items():
            value = getattr(self, name)
            if float in (hint, *typing.get_args(hint)) and isinstance(value, float):
                out.append((name, value))
            elif typing.get_origin(hint) is tuple and typing.get_args(hint)[0] is float:
                out.extend((name, v) for v in value)
        return out

    @property
    def epsilon(self) -> float:
        """The attack budget in [0, 1] pixel units."""
        return self.epsilon_255 / 255.0

    @property
    def uses_synthetic(self) -> bool:
        return self.synthetic is not None and self.synthetic_fraction > 0

    @property
    def run_name(self) -> str:
        """Stable folder name, e.g. ``cifar10_resnet18_at8_synth0.5_s0`` or ``cifar10_resnet18_nt_s0``:
        :attr:`slug` and the seed (or ``name`` where given)."""
        if self.name:
            return self.name
        return f"{self.slug}_s{self.seed}"

    @property
    def slug(self) -> str:
        """The run name without the seed: dataset, model, method (with ε where the method attacks), the
        method's parameters and the options that are on (:data:`atlib.methods.OPTIONS`; a parameter whose
        ``slug`` is None never enters it, so stored folder names never change), and the synthesized set."""
        method = method_table.METHODS.get(self.method)  # None for "external": no ε, no parameters
        attacked = method is not None and method.adversarial
        shown = [(p, p.value(self)) for p in (method.params if method else ())]
        shown += [(o, v) for o in OPTIONS if (v := o.value(self)) is not None]
        params = "".join(f"_{p.slug}{v:g}" for p, v in shown if p.slug is not None)
        synth = f"_{self.synthetic_tag}{self.synthetic_fraction:g}" if self.uses_synthetic else ""
        return f"{self.dataset}_{self.model}_{self.method}{f'{self.epsilon_255:g}' if attacked else ''}{params}{synth}"

    def inert_fields(self) -> set[str]:
        """Options that change nothing in this run (``ema_warmup`` without an EMA, ``reference_step`` for a
        method whose step it leaves alone, ``attack_bn_mode`` without an attack): settings ignore them."""
        inert = set()
        if self.ema_decay is None:
            inert.add("ema_warmup")
        if self.method != "trades":  # the only method whose step it changes (AT-AWP numbers epochs from 0, as before)
            inert.add("reference_step")
        if not (self.method in method_table.METHODS and method_table.METHODS[self.method].adversarial):
            inert.add("attack_bn_mode")
        return inert

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lr_milestones"] = list(self.lr_milestones)
        out["robust_eval_eps_255"] = list(self.robust_eval_eps_255)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """A config as stored in a run folder. A field added since it was written takes its
        default, except the fields of :data:`READ_AS_BEFORE`, which take the behaviour the run was trained
        with; values written by older atlib versions are translated (see :func:`_upgrade`)."""
        return cls(**_upgrade(_known(cls, data)))

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None, preset: str | None = None) -> "TrainConfig":
        """The one way in for settings from outside: ``preset``'s values (a key of :data:`PRESETS`),
        then ``overrides`` on top. Values may be text (CLI, ``--set``, notebook parameters, YAML) and
        are converted by the fields' type hints; every value is checked and every error names the field."""
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
        return cls(**{**(PRESETS[preset] if preset else {}), **convert_fields(cls, overrides or {})})
    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def conflicts_with(self, stored: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Fields (other than execution-only ones) whose value differs from a stored config; a field the
        stored config lacks (added to atlib later) counts as its default; the fields of :data:`READ_AS_BEFORE` of a
        run stored before they existed are not compared: it keeps the behaviour it was trained with (:meth:`resuming`). The stored values are
        compared as they are, not validated: one that is no longer valid (a NaN stored before numbers were checked)
        is reported as a conflict, never raised, so the message says which run and field to fix."""
        theirs = {**dataclasses.asdict(TrainConfig()), **_upgrade(_known(type(self), stored))}
        mine = dataclasses.asdict(self)
        skip = EXECUTION_FIELDS | set(read_as_before(stored))
        return {key: (theirs[key], mine[key]) for key in mine if key not in skip and theirs[key] != mine[key]}

    def resuming(self, stored: Mapping[str, Any]) -> "TrainConfig":
        """This config as it resumes the stored run ``stored``: for a run stored before the fields of
        :data:`READ_AS_BEFORE` existed, they take the behaviour it was trained with."""
        before = read_as_before(stored)
        return self.replace(**before) if before else self

    def precision(self, device_type: str) -> dict[str, str]:
        """What runs in which precision on ``device_type``, as stated in a run's meta data.

        Training (forward/backward and the PGD forwards inside it) may run under bf16 autocast; the
        PGD iterate and the weights stay fp32. Recording and every evaluation run in fp32: bf16 logits
        carry about +-0.02 error at a logit of 10, and such jitter would add to the non-monotonicity
        score summed over hundreds of record points.
        """
        train = "bf16 autocast" if switch_on(self.amp, device_type) else "fp32"
        return {"training": train, "attack": f"{train} forward, fp32 perturbation", "recording": "fp32", "evaluation": "fp32"}


def switch_on(value: str, device_type: str) -> bool:
    """An "auto"/"on"/"off" field's meaning on ``device_type`` ("auto" is on for CUDA only)."""
    return value == "on" or (value == "auto" and device_type == "cuda")


def check_device(name: str) -> None:
    """Refuse a device atlib cannot run on, before torch is imported."""
    if not DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N (atlib trains on CPUs and NVIDIA GPUs), got {name!r}")


def resolve_device(name: str) -> torch.device:
    """The device a ``device`` field names: ``"auto"`` is CUDA when available, else the CPU; CUDA asked for
    on a machine without it is an error. Torch is imported here, so this module stays torch-free."""
    import torch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    return device


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as a dict, refused if it names a field ``cls`` does not have."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown TrainConfig fields {unknown}; valid fields: {sorted(known)}")
    return dict(data)


# Options whose default or meaning changed when each method was brought to its reference's behaviour
# (docs/methods.md). A config stored before that change (one without ``reference_step``) is read with the
# behaviour it was trained with, not today's defaults: a field it lacks takes the value here, and one it has
# (``attack_bn_mode``, then "eval" for every method) keeps its stored value. These fields are not compared when
# a command resumes such a run: the same command resumes it as what it was, and its meta data says so
# (``read_as_before``). Its ``source`` is read from its method ("external" for method "external").
READ_AS_BEFORE: dict[str, Any] = {
    "attack_bn_mode": "eval",  # every method crafted its attack with eval-mode BN
    "ema_warmup": False,  # constant EMA decay from the first step, BN statistics averaged
    "reference_step": False,  # TRADES with two train-mode forwards; AWP's epochs numbered from 0 (awp_warmup N: N epochs without)
}


def read_as_before(stored: Mapping[str, Any]) -> dict[str, Any]:
    """For a config stored before :data:`READ_AS_BEFORE` existed, its values of those fields (stored, else the
    old behaviour) and its ``source``; empty for a config written since."""
    if "reference_step" in stored:
        return {}
    before = {name: stored.get(name, old) for name, old in READ_AS_BEFORE.items()}
    before["source"] = stored.get("source", EXTERNAL if stored.get("method") == EXTERNAL else "trained")
    return before


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Translate values stored by older atlib versions: a config stored before :data:`READ_AS_BEFORE` existed
    keeps its old behaviour (:func:`read_as_before`). atlib 0.1 stored ``amp``/``channels_last``
    as booleans meaning "on CUDA, ignored on the CPU", which is today's "auto"."""
    data.update(read_as_before(data))
    for name in ("amp", "channels_last"):
        if isinstance(data.get(name), bool):
            data[name] = "auto" if data[name] else "off"
    for name in ("lr_milestones", "robust_eval_eps_255"):
        if isinstance(data.get(name), list):
            data[name] = tuple(data[name])
    return data


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """Every field's type hint of dataclass ``cls``, resolved."""
    return typing.get_type_hints(cls)


def convert_fields(cls: type, values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``values`` for the fields of dataclass ``cls``, converted from text where needed (CLI, ``--set``,
    YAML) by the fields' type hints and type-checked. Errors name the field, prefixed by ``where.``."""
    hints = field_types(cls)
    unknown = [name for name in values if name not in hints]
    if unknown:
        place = f" in {where}" if where else ""
        raise ValueError(f"unknown field(s) {sorted(unknown)}{place}; valid fields: {', '.join(hints)}")
    out = {}
    for name, value in values.items():
        try:
            out[name] = convert(value, hints[name])
        except (ValueError, SyntaxError):
            label = f"{where}.{name}" if where else name
            raise ValueError(f"{label}: expected {describe_type(hints[name])}, got {type(value).__name__} {value!r}") from None
    return out


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def convert(value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (bool, int, float, str, ``X | None``, ``tuple[X, ...]``); text is parsed,
    other values must already have the type (ints are accepted as floats, never bools as numbers)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if type(None) in args and (value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg)
            except ValueError:
                pass
        raise ValueError(value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, str):
            text = value.strip()
            value = ast.literal_eval(text) if text[:1] in "([" else text.replace(",", " ").split()
            if not isinstance(value, (list, tuple)):
                raise ValueError(value)
        if not isinstance(value, (list, tuple)):
            raise ValueError(value)
        return tuple(convert(v, item) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(value)
    if isinstance(value, bool):
        raise ValueError(value)  # True is no number and no text
    if hint is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError(value)
    if hint is float:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())  # YAML 1.1 reads 1e-4 (no dot) as text
        raise ValueError(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(value)
    raise ValueError(value)


def describe_type(hint: Any) -> str:
    """A type hint in words, for error messages."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(arg) for arg in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {describe_type(typing.get_args(hint)[0])}"
    return "null" if hint is type(None) else hint.__name__


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The multi-step schedule as a pure function of the epoch, so resuming needs no scheduler state."""
    decays = sum(1 for m in config.lr_milestones if epoch >= m)
    return config.lr * config.lr_gamma**decays


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's full setting (Section 3): ResNet-18, 120 epochs, PGD-10. Several record points per epoch.
    "paper": dict(model="resnet18", epochs=120, batch_size=128, record_per_epoch=4),
    # The README's demo (`python -m atlib demo`): the small CNN on a CIFAR-10 subset, sized for 2 CPU cores; small
    # batches and many epochs on 1,000 images let it learn within minutes. Its demo half (seeds, budgets, stand-in,
    # CIFAR-C) is its grid, grids/demo.yaml.
    "demo": dict(
        model="small_cnn", epochs=25, lr_milestones=(20,), train_subset=1000, test_subset=1000, pgd_steps=2,
        batch_size=32, lr=0.05, record_per_epoch=1, robust_eval_n=500, robust_eval_steps=5, eval_batch_size=500,
    ),
    # A smoke test of the whole pipeline in about a minute (`python -m atlib demo --quick`): shows nothing.
    "quick": dict(
        model="small_cnn", epochs=2, lr_milestones=(1,), train_subset=200, test_subset=100, pgd_steps=1,
        record_per_epoch=1, robust_eval_n=50, robust_eval_steps=2, batch_size=64, eval_batch_size=500,
    ),
    # A longer CPU study (`python -m atlib demo --study`, three seeds): 41 min 18 s on 2 cores, measured whole
    # (README: its claims table).
    "study": dict(
        model="small_cnn", epochs=20, lr_milestones=(16,), train_subset=3000, test_subset=2000, pgd_steps=3,
        batch_size=32, lr=0.05, record_per_epoch=2, robust_eval_n=1000, robust_eval_steps=5, eval_batch_size=1000,
    ),
}
