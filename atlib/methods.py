"""Every training method's facts in one table: its name, whether it is adversarial, its parameters and their
defaults, the batch-norm mode its attack crafts in, the cost of its step, its label, the reference code it
follows and any documented deviation from it.

:mod:`atlib.config` (validation and defaults), :mod:`atlib.setting` (labels and run names),
:mod:`atlib.sweep.estimate` (cost) and :mod:`atlib.train.awp` (AWP defaults) read it; :mod:`atlib.train.losses`
keys its torch code by the same names (a test checks that the keys agree). Kept free of torch, like
:mod:`atlib.config`, which reads it. A new method is one entry of :data:`METHODS` plus its loss.

Where a run came from (trained here, or recorded from checkpoints trained elsewhere) is not a method: it is
the config's ``source`` field (:data:`SOURCES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """A config field that labels and run names show: ``text`` formats its value in a label
    (``"β={:g}"`` gives ``β=6``), ``slug`` prefixes it in a run name (``"beta"`` gives ``_beta6``);
    ``slug=None`` keeps it out of run names (an option added after runs were stored: folder names never change).
    """

    field: str
    text: str
    slug: str | None

    def value(self, config: Any) -> Any:
        return getattr(config, self.field)



# Options on top of a method, shown after ε when on, e.g. ``AT ε=8/255 + AWP γ=0.01`` or ``TRADES β=6 ε=8/255 + EMA 0.999``.
OPTIONS: tuple[Param, ...] = (Param("awp_gamma", "AWP γ={:g}", "awp"), Param("awp_warmup", "warm-up {:g}", "warmup"),
                              Param("ema_decay", "EMA {:g}", "ema"))


@dataclass(frozen=True)
class AWPDefaults:
    """Adversarial weight perturbation (Wu et al. 2020) on a method: its reference's perturbation size
    ``gamma``, its warm-up ``warmup`` (AWP applies from the epoch numbered ``warmup``) and the number its
    reference gives the first epoch, ``first_epoch`` (AT-AWP counts epochs from 0, TRADES-AWP from 1)."""

    gamma: float
    warmup: int
    first_epoch: int
    reference: str


@dataclass(frozen=True)
class Method:
    """One training method.

    ``passes``: forward-backward passes of a training step besides the attack, in units of an NT step (a
    forward alone counts 1/3); ``attack_passes``: the attack's passes, ``"pgd"`` for ``pgd_steps`` (plus
    ``attack_extra`` for a forward before the attack, e.g. TRADES's clean target). ``bn_mode``: the BN mode
    its attack crafts in by default (``attack_bn_mode``), as its reference does.
    """

    name: str
    label: str
    adversarial: bool
    bn_mode: str
    passes: float
    attack_passes: int | str
    reference: str
    params: tuple[Param, ...] = ()
    defaults: tuple[tuple[str, float], ...] = ()  # the parameters' defaults, as (config field, value)
    attack_extra: float = 0.0
    awp: AWPDefaults | None = None
    deviations: tuple[str, ...] = ()


FORWARD = 1 / 3  # a forward alone costs about a third of a forward-backward pass
START = ("The start x + 0.001 N(0, 1) is clipped to the [0, 1] box before the first step; the reference clips only "
         "after it, so the first gradient can differ at pixels at 0 or 1.")

# One entry per method, in the order settings are shown: NT first, then AT, then the variants.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("nt", "NT", adversarial=False, bn_mode="eval", passes=1, attack_passes=0,
           reference="natural training (no attack)"),
    Method("at", "AT", adversarial=True, bn_mode="eval", passes=1, attack_passes="pgd",
           reference="Madry et al. 2018, PGD-10 with a uniform random start (the paper's AT)",
           awp=AWPDefaults(0.01, 0, 0, "github.com/csdongxian/AWP (AT_AWP/train_cifar10.py)"),
           deviations=("With AWP: the AT-AWP reference crafts PGD with the model in train mode (each PGD forward "
                       "updates the BN running statistics) and runs a clean train-mode forward for logging after each "
                       "step. atlib's AT crafts with eval-mode BN and makes no logging forward, so AT with and without "
                       "AWP share one step; give attack_bn_mode train for train-mode crafting.",)),
    Method("trades", "TRADES", adversarial=True, bn_mode="eval", passes=2 + FORWARD, attack_passes="pgd",
           attack_extra=FORWARD, reference="github.com/yaodongyu/TRADES (trades.py)",
           params=(Param("trades_beta", "β={:g}", "beta"),), defaults=(("trades_beta", 6.0),), deviations=(START,),
           awp=AWPDefaults(0.005, 10, 1, "github.com/csdongxian/AWP (trades_AWP/train_trades_cifar.py)")),
    Method("mart", "MART", adversarial=True, bn_mode="eval", passes=2, attack_passes="pgd",
           reference="github.com/YisenWang/MART (mart.py)",
           params=(Param("mart_beta", "β={:g}", "beta"),), defaults=(("mart_beta", 6.0),),
           deviations=("β defaults to 6, the paper's value for WRN-34-10; the reference's train_resnet.py uses 5 for "
                       "ResNet-18 (give mart_beta 5).", START)),
    Method("fgsm_rs", "FGSM-RS", adversarial=True, bn_mode="train", passes=1, attack_passes=1,
           reference="github.com/locuslab/fast_adversarial (CIFAR10/train_fgsm.py): one step of 1.25 ε from a uniform start"),
)}

ADVERSARIAL = tuple(name for name, m in METHODS.items() if m.adversarial)
AWP_METHODS = tuple(name for name, m in METHODS.items() if m.awp is not None)
BN_MODES = ("eval", "train")

# Where a run came from: trained by atlib, or recorded from checkpoints trained elsewhere
# (atlib.evaluate.external). An external run's ``method`` is EXTERNAL: what trained it is not known here.
SOURCES = ("trained", "external")
EXTERNAL = "external"


def method(name: str) -> Method:
    """The table entry of ``name``, or an error that lists the methods."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}: choose one of {', '.join(METHODS)} (add a method to atlib.methods.METHODS)") from None


def step_passes(name: str, pgd_steps: int, awp: bool = False) -> float:
    """Forward-backward passes of one training step of method ``name``, in units of an NT step; AWP adds
    its proxy's pass (the method's objective once more, without its BN-only forward)."""
    m = method(name)
    attack = pgd_steps if m.attack_passes == "pgd" else m.attack_passes
    return attack + m.attack_extra + m.passes + (int(m.passes) if awp else 0)
