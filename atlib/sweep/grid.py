"""Grid files: a small YAML/JSON description of many runs, expanded into TrainConfigs.

A grid holds ``product`` (TrainConfig field -> list of values; one run per combination, in
the order written), ``fixed`` (overrides shared by every run), optionally ``preset`` (a
:data:`atlib.config.PRESETS` name applied first), ``include`` (extra runs: a list of field
mappings applied over preset + fixed), ``prepare`` (inputs made in the sweep folder before any
run starts, see :func:`prepared_inputs`) and ``slurm`` (cluster options, see
:class:`SlurmOptions`). String values may name other fields, e.g.
``synthetic: data/synthetic/{dataset}/1m.npz`` or ``name: "{run_name}_lr{lr:g}"``
(``run_name`` is the derived name), or a prepared input (``synthetic: "{standin}"``,
``cifar_c_root: "{cifar_c}"``); placeholders are filled from the run's final config.

Runs are identified by ``config.run_name``. Combinations that give the same config are
merged (NT ignores epsilon, so ``method [nt, at] x epsilon_255 [2, 8]`` gives one NT run per
seed); combinations that share a run name but differ elsewhere are an error.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

import atlib
from atlib.config import PRESETS, TrainConfig, convert_fields
from atlib.data.extra import corrupted_info

GRIDS_DIR = Path(atlib.__file__).resolve().parents[1] / "grids"
GRID_KEYS = ("name", "description", "preset", "fixed", "product", "include", "prepare", "slurm")
# What a grid's ``prepare:`` section may ask for (each with a number of images; see prepared_inputs).
PREPARED = {
    "standin": "a stand-in for synthesized data: that many real training images held out from train_subset",
    "cifar_c": "a generated CIFAR-C (19 corruptions x 5 severities) of that many class-balanced test images",
}
SWEEP_SET_FIELDS = ("out_dir",)  # the sweep decides where runs live (<out>/runs)


@dataclass
class SlurmOptions:
    """Per-job cluster resources; every option is also a CLI flag (the flag wins over the grid file)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time_min: int = 720  # a run past this is requeued and resumes from its checkpoint
    gpus: int = 1  # per job: a sweep gives each run one device (multi-GPU runs: torchrun, see the README)
    runs_per_gpu: int = 1  # runs packed into one GPU job, sharing the GPU (a ResNet-18 at batch 128 leaves an H100 idle)
    cpus: int = 8
    mem_gb: float = 32.0
    array_parallelism: int = 32  # runs of the array allowed to run at once
    max_requeues: int = 10  # time-limit requeues per run (preemptions are unlimited)

    def __post_init__(self) -> None:
        for name in ("time_min", "cpus", "array_parallelism", "runs_per_gpu"):
            if getattr(self, name) < 1:
                raise ValueError(f"slurm option {name} must be >= 1, got {getattr(self, name)}")
        if self.gpus not in (0, 1):
            raise ValueError(f"slurm option gpus must be 0 or 1 (a sweep gives each run one device; use --runs-per-gpu "
                             f"to share a GPU, or torchrun for one run on several GPUs), got {self.gpus}")
        if self.mem_gb <= 0 or self.max_requeues < 0:
            raise ValueError("slurm options need mem_gb > 0 and max_requeues >= 0")


@dataclass
class Grid:
    """A parsed grid file (not yet expanded)."""

    name: str
    path: Path | None
    product: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    include: list[dict[str, Any]] = field(default_factory=list)
    prepare: dict[str, int] = field(default_factory=dict)
    slurm: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def info(self) -> dict[str, Any]:
        """How sweep.json names the grid."""
        return {"name": self.name, "file": str(self.path) if self.path else None}

    def base(self) -> dict[str, Any]:
        """The values every run starts from: the preset's, then ``fixed``."""
        return {**PRESETS.get(self.preset or "", {}), **self.fixed}


def builtin_grids() -> list[str]:
    return sorted(p.stem for p in GRIDS_DIR.glob("*.yaml"))


def resolve_grid(spec: str | Path) -> Path:
    """A grid file path, or the name of a built-in grid in ``grids/`` (``paper``, ``demo``)."""
    path = Path(spec)
    if path.is_file():
        return path
    builtin = GRIDS_DIR / f"{spec}.yaml"
    if builtin.is_file():
        return builtin
    raise FileNotFoundError(
        f"grid {str(spec)!r}: no such file, and not a built-in grid (built-in: {', '.join(builtin_grids()) or 'none'} in {GRIDS_DIR})"
    )


def load_grid(spec: str | Path) -> Grid:
    """Read and check a grid file (YAML, or JSON for ``.json``); errors name the offending key."""
    path = resolve_grid(spec)
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}") from err
    try:
        return parse_grid(data, name=path.stem, path=path)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def parse_grid(data: Any, name: str, path: Path | None = None) -> Grid:
    """Check the structure and every value's type of a grid given as a mapping."""
    if not isinstance(data, dict):
        raise ValueError(f"a grid is a mapping with keys {', '.join(GRID_KEYS)}; got {type(data).__name__}")
    unknown = sorted(set(data) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"unknown grid key(s) {unknown}; valid keys: {', '.join(GRID_KEYS)}")
    preset = data.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    fixed = _fields(data.get("fixed") or {}, "fixed")
    product = _product(data.get("product"), has_include=bool(data.get("include")))
    both = sorted(set(product) & set(fixed))
    if both:
        raise ValueError(f"field(s) {both} are both in product and fixed: a field is either varied or fixed, not both")
    include = data.get("include") or []
    if not isinstance(include, list):
        raise ValueError(f"include must be a list of field mappings, got {type(include).__name__}")
    include = [_fields(entry, f"include[{i}]") for i, entry in enumerate(include)]
    slurm = _fields(data.get("slurm") or {}, "slurm", SlurmOptions)
    prepare = _prepare(data.get("prepare") or {}, product)
    return Grid(name=str(data.get("name") or name), path=path, product=product, fixed=fixed, preset=preset,
                include=include, prepare=prepare, slurm=slurm, description=str(data.get("description") or ""))


def _prepare(prepare: Any, product: Mapping[str, Any]) -> dict[str, int]:
    if not isinstance(prepare, dict):
        raise ValueError(f"prepare must be a mapping of {', '.join(PREPARED)} to a number of images, got {type(prepare).__name__}")
    unknown = sorted(set(prepare) - set(PREPARED))
    if unknown:
        raise ValueError(f"unknown input(s) {unknown} in prepare; it can make: "
                         + "; ".join(f"{k} ({v})" for k, v in PREPARED.items()))
    for key, size in prepare.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"prepare.{key}: expected a positive number of images, got {size!r}")
    varied = sorted({"dataset", "train_subset", "test_subset", "data_root"} & set(product))
    if prepare and varied:
        raise ValueError(f"prepare makes one input for the whole grid: {varied} must be fixed, not in product")
    return dict(prepare)


def prepared_inputs(grid: Grid, out: str | Path) -> dict[str, Path]:
    """Where the inputs of the grid's ``prepare:`` section live in sweep folder ``out`` (made by
    :func:`atlib.sweep.prepare.prepare_inputs`): ``standin`` as ``<out>/data/standin_<dataset>_<size>_outside_first_<train_subset>.npz``,
    ``cifar_c`` as ``<out>/CIFAR-10-C-generated-<size>`` (``CIFAR-100-C-...`` for CIFAR-100). Run fields name them as
    ``{standin}`` and ``{cifar_c}``."""
    base, out = grid.base(), Path(out).absolute()
    dataset = base.get("dataset", "cifar10")
    paths = {}
    if "standin" in grid.prepare:
        subset = base.get("train_subset")
        if subset is None:
            raise ValueError("prepare.standin holds real training images out of train_subset: set train_subset (fixed or preset)")
        paths["standin"] = out / "data" / f"standin_{dataset}_{grid.prepare['standin']}_outside_first_{subset}.npz"
    if "cifar_c" in grid.prepare:
        paths["cifar_c"] = out / f"{corrupted_info(dataset).corrupted}-generated-{grid.prepare['cifar_c']}"
    return paths


def _product(product: Any, has_include: bool) -> dict[str, list[Any]]:
    if product is None and has_include:
        return {}
    if not isinstance(product, dict) or not product:
        raise ValueError("product is empty: give at least one field with a list of values, e.g. product: {seed: [0, 1]}")
    for key, values in product.items():
        if not isinstance(values, list):
            raise ValueError(f"product.{key} must be a list of values, got {type(values).__name__} {values!r} (write [{values!r}] or move it to fixed)")
        if not values:
            raise ValueError(f"product.{key} is an empty list: the product would hold no runs")
    _check_names(product, "product", TrainConfig)
    return {key: [convert_fields(TrainConfig, {key: v}, "product")[key] for v in values] for key, values in product.items()}


def _fields(entry: Any, where: str, cls: type = TrainConfig) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping of {cls.__name__} fields, got {type(entry).__name__}")
    _check_names(entry, where, cls)
    return convert_fields(cls, entry, where)


def _check_names(keys: Mapping[str, Any], where: str, cls: type) -> None:
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in {where}; valid fields: {', '.join(valid)}")
    if cls is TrainConfig:
        for key in SWEEP_SET_FIELDS:
            if key in keys:
                raise ValueError(f"{where}.{key} is set by the sweep (runs live in <out>/runs); choose the folder with --out")


def expand(grid: Grid, runs_dir: str | Path) -> list[TrainConfig]:
    """Every run of the grid, in order (product in the order written, then include), merged by run name."""
    base = grid.base()
    prepared = {k: str(v) for k, v in prepared_inputs(grid, Path(runs_dir).absolute().parent).items()}
    combos = [dict(zip(grid.product, values)) for values in itertools.product(*grid.product.values())] if grid.product else []
    runs: dict[str, TrainConfig] = {}
    for combo in combos + grid.include:
        config = _build({**base, **combo, "out_dir": str(Path(runs_dir).absolute())}, combo, prepared)
        twin, mine = runs.setdefault(config.run_name, config).to_dict(), config.to_dict()
        if twin != mine:
            differ = {k: (v, mine[k]) for k, v in twin.items() if v != mine[k]}
            detail = ", ".join(f"{k} ({a!r} vs {b!r})" for k, (a, b) in sorted(differ.items()))
            raise ValueError(
                f"two runs of the grid share the run folder {config.run_name!r} but differ in {detail}; run names encode "
                "only dataset, model, method, epsilon, synthetic data and seed: give them distinct names, "
                "e.g. fixed: {name: '{run_name}_lr{lr:g}'}"
            )
    if not runs:
        raise ValueError(f"grid {grid.name!r} expands to no runs")
    return list(runs.values())


def run_plans(grid: Grid, configs: list[TrainConfig]) -> dict[str, dict[str, Any]]:
    """What the grid promised each of its runs (``configs``, as :func:`expand` gives them), written into the run's
    meta data when it starts: ``{"grid": name, "seeds": [...]}``, the seeds the grid trains of the run's setting.
    Analyses report missing seeds against this, never against a number of their own."""
    from atlib.setting import Setting  # builds on atlib.config, like this module

    seeds: dict[Any, set[int]] = {}
    for config in configs:
        seeds.setdefault(Setting.of(config), set()).add(config.seed)
    return {c.run_name: {"grid": grid.name, "seeds": sorted(seeds[Setting.of(c)])} for c in configs}


def _build(values: dict[str, Any], combo: Mapping[str, Any], prepared: Mapping[str, str]) -> TrainConfig:
    try:
        config = TrainConfig(**values)
        templated = {k: v for k, v in config.to_dict().items() if isinstance(v, str) and "{" in v}
        if templated:
            context = config.to_dict() | {"run_name": config.replace(name=None).run_name} | dict(prepared)
            config = config.replace(**{k: _fill(k, v, context) for k, v in templated.items()})
    except ValueError as err:
        where = f" (combination {dict(combo)})" if combo else ""
        raise ValueError(f"{err}{where}") from None
    return config


def _fill(key: str, template: str, context: dict[str, Any]) -> str:
    try:
        return template.format_map(context)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"{key}={template!r}: cannot fill placeholder {err}; placeholders name TrainConfig fields, run_name or "
            f"an input of the grid's prepare: section ({', '.join(PREPARED)}) (write {{{{ and }}}} for literal braces)"
        ) from None


def slurm_options(grid: Grid, overrides: Mapping[str, Any]) -> SlurmOptions:
    """The grid's ``slurm:`` section with CLI overrides (None means not given) on top."""
    return SlurmOptions(**{**grid.slurm, **{k: v for k, v in overrides.items() if v is not None}})
