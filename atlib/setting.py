"""What identifies a setting (the runs that differ only in their seed), and how it is named, ordered and coloured.

Every place that groups, sorts or colours runs reads it here (the run's folder name is
:attr:`atlib.config.TrainConfig.run_name`): :func:`atlib.store.runs.group_seeds`, the identifying columns of :mod:`atlib.analysis` frames and the
order and colours of :mod:`atlib.plots`. A method's label and parameters come from :mod:`atlib.methods`;
its colours are here (:data:`RAMPS`). Kept free of torch, like :mod:`atlib.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atlib.config import EXECUTION_FIELDS, TrainConfig
from atlib.methods import EXTERNAL, METHODS, OPTIONS, Param


@dataclass(frozen=True)
class MethodInfo:
    """How one training method is named, ordered and coloured.

    ``label`` opens its chart labels; ``params`` are shown in labels (before ε) and run names.
    ``ramp``: its colours, light to dark over ε = 1/255 ... 16/255 (log-spaced; other budgets
    interpolate or clamp), one colour for a method without ε; ``synthetic_ramp`` the same on
    synthesized data (default: ``ramp`` lightened). ``attacked``: ε is part of the setting (labels,
    names, order, the x-axis of charts against ε). ``named``: the runs are told apart by their
    folder name, because their config does not say what they are (checkpoints trained elsewhere).
    """

    label: str
    ramp: tuple[str, ...]
    synthetic_ramp: tuple[str, ...] | None = None
    params: tuple[Param, ...] = ()
    attacked: bool = True
    named: bool = False


# Each method's colours, light to dark over ε (see MethodInfo.ramp), and the grey of runs recorded from checkpoints.
RAMPS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "nt": (("#1b7837",), ("#7fbc41",)),
    "at": (("#f4845f", "#d7301f", "#a50f15", "#4d0008"), ("#74a9cf", "#2b8cbe", "#045a8d", "#012a4a")),
    "trades": (("#a18fd1", "#7b5fc4", "#54309e", "#2e0a6e"), None),
    "mart": (("#fdb863", "#e08214", "#b35806", "#7f3b08"), None),
    "fgsm_rs": (("#fa7fb5", "#e7298a", "#b0086b", "#6b0040"), None),
    EXTERNAL: (("#525252",), None),
}
# Options shown in labels (never in run names) where they differ from the method's default and change the run.
DEVIATIONS: tuple[Param, ...] = (Param("attack_bn_mode", "attack BN {}", None), Param("ema_warmup", "no EMA warm-up", None),
                                 Param("reference_step", "pre-parity step", None))
# The identifying columns of every analysis frame, in order (see Setting.columns).
SETTING_COLUMNS = ("label", "series", "dataset", "model", "method", "epsilon_255", "synthetic", "data")
_LIGHTEN = 0.45  # share of white in a ramp lightened for synthesized data


def method_names() -> tuple[str, ...]:
    """Every method in the order settings are shown: those of :data:`atlib.methods.METHODS`, then "external"."""
    return (*METHODS, EXTERNAL)


def method_info(method: str) -> MethodInfo:
    """How ``method`` is shown: its facts from :data:`atlib.methods.METHODS`, its colours from :data:`RAMPS`;
    an unknown one gets an error that says where to add it."""
    if method == EXTERNAL:
        return MethodInfo("External", *RAMPS[EXTERNAL], attacked=False, named=True)
    if method not in METHODS or method not in RAMPS:
        raise ValueError(f"unknown method {method!r}: add it to atlib.methods.METHODS and its colours to "
                         f"atlib.setting.RAMPS (known: {', '.join(method_names())})")
    m = METHODS[method]
    return MethodInfo(m.label, *RAMPS[method], params=m.params, attacked=m.adversarial)


def kind_key(method: str, epsilon_255: float, synthetic: bool) -> tuple[int, float, bool]:
    """The leading part of :attr:`Setting.sort_key`, from columns every frame carries: the method's
    place in :func:`method_names`, then ε (for methods with one), then original data before synthesized."""
    info = method_info(method)
    return method_names().index(method), float(epsilon_255) if info.attacked else 0.0, bool(synthetic)


def mix(color: str, other: str, share: float) -> str:
    """``#rrggbb`` ``color`` moved ``share`` (0..1) of the way to ``other``."""
    a, b = ([int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in (color, other))
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b))


def ramp(method: str, synthetic: bool) -> tuple[str, ...]:
    """The colour family of ``method`` on original or synthesized data, light to dark over ε."""
    info = method_info(method)
    if not synthetic:
        return info.ramp
    return info.synthetic_ramp or tuple(mix(c, "#ffffff", _LIGHTEN) for c in info.ramp)


@dataclass(frozen=True)
class Setting:
    """What a seed group's runs compute, derived from one run's config by :meth:`of`.

    Two settings are equal when their ``key`` is: every config field but the seed, the execution
    fields (:data:`atlib.config.EXECUTION_FIELDS`) and the synthetic file's path (which may move;
    whether synthesized data is used counts), and for a ``named`` method the run's folder name.
    The other fields only present it.
    """

    key: tuple[tuple[str, str], ...]
    dataset: str = field(compare=False)
    model: str = field(compare=False)
    method: str = field(compare=False)
    epsilon_255: float = field(compare=False)
    synthetic: bool = field(compare=False)
    tag: str = field(compare=False)  # the synthesized set's name in labels and run names
    fraction: float = field(compare=False)  # its share of every batch
    params: tuple[tuple[Param, Any], ...] = field(compare=False)  # the method's parameters and their values
    options: tuple[tuple[Param, Any], ...] = field(compare=False)  # the options that are on and their values
    name: str | None = field(compare=False)  # a named method's run folder
    slug: str = field(compare=False)  # the run name without the seed (TrainConfig.slug)

    @classmethod
    def of(cls, config: TrainConfig) -> "Setting":
        info = method_info(config.method)
        params = tuple((p, p.value(config)) for p in info.params)
        options = tuple((o, v) for o in OPTIONS if (v := o.value(config)) is not None)
        default = TrainConfig(method=config.method, epsilon_255=config.epsilon_255, source=config.source)
        options += tuple((o, v) for o in DEVIATIONS if o.field not in config.inert_fields()
                         and (v := o.value(config)) != o.value(default))
        ignored = EXECUTION_FIELDS | {"seed", "synthetic"} | config.inert_fields()
        fields = {k: str(v) for k, v in config.to_dict().items() if k not in ignored}
        fields["uses_synthetic"] = str(config.uses_synthetic)
        if info.named:
            fields["name"] = str(config.name)
        return cls(key=tuple(sorted(fields.items())), dataset=config.dataset, model=config.model, method=config.method,
                   epsilon_255=float(config.epsilon_255), synthetic=config.uses_synthetic, tag=config.synthetic_tag,
                   fraction=config.synthetic_fraction, params=params, options=options,
                   name=config.name if info.named else None, slug=config.slug)

    @property
    def info(self) -> MethodInfo:
        return method_info(self.method)

    @property
    def data(self) -> str:
        """``original``, or the synthesized set's tag."""
        return self.tag if self.synthetic else "original"

    def _text(self, with_epsilon: bool) -> str:
        info = self.info
        head = [info.label] + ([self.name] if self.name else []) + [p.text.format(v) for p, v in self.params]
        if with_epsilon and info.attacked:
            head.append(f"ε={self.epsilon_255:g}/255")
        tail = [o.text.format(v) for o, v in self.options] + ([self.tag] if self.synthetic else [])
        return " + ".join([" ".join(head), *tail])

    @property
    def label(self) -> str:
        """Legends and tables: e.g. ``NT``, ``AT ε=8/255 + synth``, ``TRADES β=6 ε=8/255 + EMA 0.999``."""
        return self._text(with_epsilon=True)

    @property
    def series(self) -> str:
        """The label without ε: one line of the charts against ε, e.g. ``AT + synth``."""
        return self._text(with_epsilon=False)

    @property
    def sort_key(self) -> tuple:
        """Dataset, then :func:`kind_key` (NT first, AT by ε, original data first, then the other
        methods), then the shown parameters, then the model."""
        shown = tuple((p.field, v) for p, v in self.params + self.options)
        return (self.dataset, *kind_key(self.method, self.epsilon_255, self.synthetic), shown, self.model)

    @property
    def family(self) -> tuple[str, ...]:
        """The colour family: :func:`ramp` of the method and data."""
        return ramp(self.method, self.synthetic)

    def columns(self) -> dict[str, Any]:
        """The identifying columns of an analysis frame (:data:`SETTING_COLUMNS`)."""
        return {"label": self.label, "series": self.series, "dataset": self.dataset, "model": self.model, "method": self.method,
                "epsilon_255": self.epsilon_255, "synthetic": self.synthetic, "data": self.data}
