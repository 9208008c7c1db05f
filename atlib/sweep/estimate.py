"""Device-hours a sweep will take, from measured training throughput where a benchmark file exists.

``benchmarks/bench_train.py`` writes ``outputs/benchmarks/train.json`` (flat: ``model``,
``nt_img_s``, ``at_img_s`` for PGD-10); ``benchmarks/results.json`` may hold several models
(``{"device": ..., "resnet18": {"nt_img_s": ..., "at_img_s": ...}}``). Without one, the
:data:`ASSUMED_NT_IMG_S` figures are used and the output says so.

Cost model of one run (seconds), with ``nt`` the NT training img/s of its model:
training ``epochs * train_size / rate`` where ``rate`` is ``nt`` for NT and, for AT, the
measured PGD-10 rate rescaled by ``11 / (pgd_steps + 1)`` (else ``nt / (pgd_steps + 1)``:
each PGD step is one more forward/backward pass); recording ``points * (test + NEG) /
(3 nt)`` (a forward pass costs about a third of a training step); robust evaluation
``budgets * n * (steps / nt + 1 / (3 nt))``; CIFAR-C ``19 * 50,000 / (3 nt)``.
Synthesized data costs nothing extra (an epoch is a fixed number of batches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from atlib.config import TrainConfig
from atlib.datasets import DATASET_INFO
from atlib.methods import step_passes as step_passes_of
from atlib.store.io import read_json

# ASSUMPTION, used only without a benchmark file: NT training img/s on one A100/H100-class GPU
# (bf16 autocast, channels_last, batch 128, data on the device). Conservative round figures.
ASSUMED_NT_IMG_S = {"resnet18": 10_000.0, "preact_resnet18": 10_000.0, "wrn28_10": 1_200.0, "small_cnn": 40_000.0}
BENCHMARK_FILES = ("benchmarks/results.json", "outputs/benchmarks/train.json")
BENCH_PGD_STEPS = 10  # bench_train.py times PGD-10
FORWARD_SPEEDUP = 3.0
NEG_SIZE, CIFAR_C_IMAGES = 1_000, 19 * 5 * 10_000


@dataclass
class Throughput:
    """Measured (per model) or assumed training speeds."""

    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    device: str | None = None
    source: Path | None = None

    def rates(self, model: str) -> tuple[float, float | None]:
        """(NT img/s, measured PGD-10 AT img/s or None) for ``model``."""
        if model in self.measured:
            m = self.measured[model]
            return float(m["nt_img_s"]), (float(m["at_img_s"]) if m.get("at_img_s") else None)
        return ASSUMED_NT_IMG_S.get(model, ASSUMED_NT_IMG_S["resnet18"]), None

    def describe(self, models: Sequence[str]) -> str:
        measured = [m for m in models if m in self.measured]
        assumed = [m for m in models if m not in self.measured]
        parts = []
        if measured:
            parts.append(f"measured on {self.device or 'an unnamed device'} ({self.source}): "
                         + ", ".join(f"{m} NT {self.rates(m)[0]:,.0f} img/s, AT(PGD-10) {self.rates(m)[1] or 0:,.0f} img/s" for m in measured))
        if assumed:
            parts.append("ASSUMED (no benchmark for " + ", ".join(assumed) + "; run benchmarks/bench_train.py on the target GPU): "
                         + ", ".join(f"{m} NT {self.rates(m)[0]:,.0f} img/s" for m in assumed)
                         + ", AT = NT / (pgd_steps + 1), one A100/H100-class GPU per run")
        return "; ".join(parts)


def load_throughput(paths: Sequence[str | Path] = BENCHMARK_FILES) -> Throughput:
    """The first benchmark file that exists (either layout), else no measurements."""
    for path in map(Path, paths):
        if path.is_file():
            data: dict[str, Any] = read_json(path)
            if "nt_img_s" in data:
                models = {str(data.get("model", "resnet18")): data}
            else:
                models = {k: v for k, v in data.items() if isinstance(v, dict) and "nt_img_s" in v}
            if models:
                return Throughput(measured=models, device=data.get("device"), source=path)
    return Throughput()


def step_passes(config: TrainConfig) -> float:
    """Forward-backward passes of one training step, in units of an NT step, from the method's cost in
    :data:`atlib.methods.METHODS` (PGD-k AT k + 1, FGSM-RS 2, TRADES k + 2 2/3: its clean target before the
    attack and its BN-only clean forward count a third each; AWP adds its proxy's pass)."""
    return step_passes_of(config.method, config.pgd_steps, awp=bool(config.awp_gamma))


def epoch_passes(config: TrainConfig) -> float:
    """The work of one epoch in NT training-step images, rate-free: every training image costs
    :func:`step_passes`, every recorded test (and NEG) prediction a third of a step. Ratios of this between
    runs are what the local launcher's ETA needs (its rate it measures)."""
    info = DATASET_INFO[config.dataset]
    test = (config.test_subset or info.test_size) + (NEG_SIZE if info.has_neg else 0)
    return (config.train_subset or info.train_size) * step_passes(config) + config.record_per_epoch * test / FORWARD_SPEEDUP


def run_hours(config: TrainConfig, throughput: Throughput, remaining: float = 1.0) -> float:
    """Device-hours of one run (times ``remaining``, the fraction of its training still to do)."""
    nt, at_measured = throughput.rates(config.model)
    forward = FORWARD_SPEEDUP * nt
    passes = step_passes(config)
    if config.method == "nt":
        rate = nt
    elif at_measured:
        rate = at_measured * (BENCH_PGD_STEPS + 1) / passes
    else:
        rate = nt / passes
    info = DATASET_INFO[config.dataset]
    test = config.test_subset or info.test_size
    per_point = test + (NEG_SIZE if info.has_neg else 0)
    seconds = config.epochs * ((config.train_subset or info.train_size) / rate + config.record_per_epoch * per_point / forward)
    budgets = set(config.robust_eval_eps_255) | ({config.epsilon_255} if config.epsilon_255 > 0 else set())
    n = min(config.robust_eval_n, test)
    final = len(budgets) * n * (config.robust_eval_steps / nt + 1 / forward) if n else 0.0
    final += CIFAR_C_IMAGES / forward if config.cifar_c_root else 0.0
    return (remaining * seconds + final) / 3600
