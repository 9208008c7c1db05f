"""How often the claims rule says "holds" when nothing holds: runs simulated at a shape, judged by the report's code.

A draw simulates, for every setting and seed of a :class:`Shape`, the per-image quantities the
statistics read (test images' final entropy and entropy integral, total confidence drop and nearest
template, NEG images' correctness at every record point, the stored accuracies with their binomial
error), passes them through :func:`atlib.claims.evidence.run_evidence` and judges every claim with
:func:`atlib.claims.paper.scope_claims`: the same statistic and rule code as a report on real runs.
Only the seed-averaged category shares (3a-3c's sign check) are the mean of the seeds' own shares
instead of the shares of averaged profiles; the sign check only vetoes, so leaving it weaker can
only add holds.

Images share a latent difficulty within a draw (an image hard for one run is hard for all), so the
image resampling and the seed spread each see their own error, as on real runs.

Worlds (:data:`WORLDS`): ``null`` (every setting drawn from one distribution, NEG curves rising then
flat), ``trap`` (constructed cases that fooled the earlier rule: entropy curves with one rate and
different floors, NT's NEG curve rising then flat with 0.3 pp of jitter, signed CIFAR-C gains of
equal size, category shares that are 0 over much of the threshold grid), ``paper`` (the paper's
effects, :data:`EFFECTS`) and ``reverse`` (the paper's effects reversed along ε).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from atlib import metrics
from atlib.claims import statistics
from atlib.claims.evidence import RunEvidence, SettingEvidence, run_evidence
from atlib.claims.paper import Scope, scope_claims
from atlib.claims.rule import FAILS, HOLDS
from atlib.claims.specs import SPECS
from atlib.config import TrainConfig
from atlib.setting import Setting


@dataclass(frozen=True)
class Shape:
    """A run set's shape: record points, seeds, test images, AT budgets (NT always), CIFAR-C and robust-eval images."""

    name: str
    points: int
    seeds: int
    images: int
    budgets: tuple[float, ...]
    cifar_c_images: int
    robust_images: int
    neg_images: int = 1000
    classes: int = 10


SHAPES = {s.name: s for s in (
    Shape("demo", 25, 3, 1000, (2.0, 8.0), 250, 500),
    Shape("study", 40, 3, 2000, (2.0, 8.0), 1000, 1000),
    Shape("paper", 480, 5, 10_000, (1.0, 2.0, 4.0, 8.0, 16.0), 10_000, 1000),
)}

# The paper's effects, as functions of f(ε) = ε / (ε + 4) (0 for NT, 0.2 at 1/255, 0.67 at 8/255, 0.8 at 16/255),
# each read from the figure named beside it. Seed-to-seed standard deviations are set beside them.
EFFECTS = {
    "final entropy (nats)": "NT 0.10, AT 0.10 + 0.8 f(ε): Fig 1a, AT's entropy distribution sits tenths of a nat above NT's",
    "entropy time constant": "NT 0.05, AT 0.05 + 0.15 f(ε) of training: Fig 1b, NT's mean entropy falls within a few "
                             "epochs, AT's at 8/255 over a good part of training",
    "non-monotone share": "NT 30 %, AT 30 - 25 f(ε) % at the default threshold: Fig 2-3",
    "hard share": "NT 5 %, AT 5 + 15 f(ε) %: Fig 3",
    "NEG accuracy": "NT rises from 20 % to 60 % in the first 15 % of training, falls to 25 % by half-way, rises to 35 %: "
                    "Fig 4 (Kaplun et al.'s 60 % to 20-25 %); AT rises steadily with a dip of 15 (1 - f(ε)) pp",
    "CIFAR-C gain": "NT +0.2 pp, AT +1 + 4 f(ε) pp: Fig 5 (NT almost none on CIFAR-10-C; AT gains, more at larger ε)",
    "robust accuracy": "NT 0 %, AT 25 + 25 f(ε) %: §4.3, §5",
    "clean accuracy": "NT 95 %, AT 95 - 15 f(ε) %: §4.3, §5",
}
SEED_SD = {"entropy": 0.02, "tau": 0.005, "share": 1.5, "neg": 0.01, "gain": 0.005, "robust": 0.005, "clean": 0.003}
WORLDS = ("null", "trap", "paper", "reverse")
CLAIMS = tuple(SPECS)
TRAP_NULLS = tuple(c for c in CLAIMS if c not in ("1a", "1b"))  # the trap's entropy floors differ: a real 1a/1b effect


def _f(eps: float) -> float:
    return eps / (eps + 4.0)


@dataclass(frozen=True)
class Params:
    """One setting's true values in a world."""

    entropy: float
    tau: float
    non_monotone: float  # %, at the default threshold
    hard: float  # %
    neg: Callable[[np.ndarray], np.ndarray]
    gain: float
    robust: float
    clean: float


def _neg_nt(t: np.ndarray) -> np.ndarray:
    return np.interp(t, [0, 0.15, 0.5, 1.0], [0.2, 0.6, 0.25, 0.35])


def _neg_flat(t: np.ndarray) -> np.ndarray:
    return np.interp(t, [0, 0.15, 1.0], [0.2, 0.6, 0.6])


def _neg_at(eps: float) -> Callable[[np.ndarray], np.ndarray]:
    dip = 0.15 * (1 - _f(eps))
    return lambda t: np.interp(t, [0, 0.3, 0.5, 1.0], [0.2, 0.4, 0.4 - dip, 0.5 + 0.1 * _f(eps)])


def _paper(eps: float) -> Params:
    f = _f(eps)
    return Params(entropy=0.10 + 0.8 * f, tau=0.05 + 0.15 * f, non_monotone=30 - 25 * f, hard=5 + 15 * f,
                  neg=_neg_nt if eps == 0 else _neg_at(eps), gain=0.002 if eps == 0 else 0.01 + 0.04 * f,
                  robust=0.0 if eps == 0 else 0.25 + 0.25 * f, clean=0.95 - 0.15 * f)


def world_params(world: str, budgets: tuple[float, ...]) -> list[Params]:
    """Each setting's (NT, then AT at ``budgets``) true values in ``world``."""
    eps = (0.0, *budgets)
    if world == "paper":
        return [_paper(e) for e in eps]
    if world == "reverse":
        return [_paper(e) for e in reversed(eps)]
    middle = dataclasses.replace(_paper(4.0), neg=_neg_flat)
    if world == "null":
        return [middle] * len(eps)
    if world == "trap":
        # one rate, floors rising with ε; NT's NEG flat after its rise; gains of one size, NT's negative;
        # few non-monotone points, so the upper thresholds carry no information
        return [dataclasses.replace(middle, entropy=0.10 + 0.8 * _f(e), non_monotone=2.0, gain=-0.02 if e == 0 else 0.02)
                for e in eps]
    raise ValueError(f"unknown world {world!r}; choose one of {WORLDS}")


def _config(shape: Shape, method: str, eps: float) -> TrainConfig:
    return TrainConfig(model="small_cnn", method=method, epsilon_255=eps or 8.0, epochs=shape.points, record_per_epoch=1)


def draw(shape: Shape, world: str, rng: np.random.Generator) -> dict[str, str]:
    """One simulated run set of ``shape`` in ``world``: every claim's verdict, by claim id."""
    t = np.arange(1, shape.points + 1) / shape.points
    weights, _ = statistics.trapezoid_weights(t)
    grid = metrics.threshold_grid(shape.points)
    scale = metrics.default_threshold(shape.points)
    log_c = float(np.log(shape.classes))
    n = shape.images
    # latent image difficulty shared by every run of the draw (entropy, drop, template) and NEG images' thresholds
    d_entropy, d_drop, d_template = rng.standard_normal((3, n))
    neg_u = rng.uniform(size=shape.neg_images)
    test_acc = 0.3 + 0.5 * (1 - np.exp(-5 * t)) + rng.normal(0, 0.003, shape.points)
    settings = []
    for k, (params, eps) in enumerate(zip(world_params(world, shape.budgets), (0.0, *shape.budgets))):
        method = "nt" if eps == 0 else "at"
        config = _config(shape, method, eps)
        runs, synth = [], []
        for seed in range(shape.seeds):
            z = rng.standard_normal(8)
            # 1a/1b/2: each image's final entropy (lognormal around the setting's mean) and its curve's integral
            mean_entropy = max(params.entropy + SEED_SD["entropy"] * z[0], 0.01)
            final = mean_entropy * np.exp(0.8 * d_entropy + 0.4 * rng.standard_normal(n) - 0.4)
            final = np.minimum(final, log_c)
            tau = max(params.tau + SEED_SD["tau"] * z[1], 0.005)
            decay = np.exp(-t / tau)
            base = (log_c - final) / (1 - np.exp(-1 / tau) + 1e-12)  # curve from log C at 0 to `final` at t = 1
            area = (final - base * np.exp(-1 / tau)) * weights.sum() + base * (weights @ decay)
            # 3: total drop (lognormal, scaled to the default threshold) and nearest template
            share = np.clip(params.non_monotone + SEED_SD["share"] * z[2], 0.05, 99.0) / 100
            drop = scale * np.exp(1.2 * (0.8 * d_drop + 0.6 * rng.standard_normal(n) + stats.norm.ppf(share)))
            hard = np.clip(params.hard + SEED_SD["share"] * z[3], 0.05, 99.0) / 100
            u = stats.norm.cdf(0.8 * d_template + 0.6 * rng.standard_normal(n))
            nearest = np.where(u < hard, 1, np.where(u < hard + 0.55, 0, 2))
            # 4: NEG correctness: an image is right while its threshold is below the curve (jitter 0.3 pp, churn)
            neg = neg_records(params.neg(t) + SEED_SD["neg"] * z[4], neg_u, rng)
            # 5, 6: stored accuracies with their binomial error over their own images
            robust = _observed(params.robust + SEED_SD["robust"] * z[5], shape.robust_images, rng)
            clean = _observed(params.clean + SEED_SD["clean"] * z[6], n, rng)
            cifar_c = 0.70 - 0.1 * _f(eps)
            gain = params.gain + SEED_SD["gain"] * z[7]
            key = f"{k}/{seed}"
            evidence = run_evidence(
                seed, key, time=t, log_c=log_c, final_entropy=final, entropy_area=area, drop=drop,
                nearest=nearest, thresholds=grid, test_acc=test_acc, neg_correct=neg, clean_acc=clean, robust_acc=robust,
                robust_n=shape.robust_images, cifar_c=_observed(cifar_c, shape.cifar_c_images, rng),
                cifar_c_n=shape.cifar_c_images, cifar_c_kind="generated")
            runs.append(evidence)
            synth.append(dataclasses.replace(evidence, cifar_c=statistics.accuracy_replicates(
                _observed(cifar_c + gain, shape.cifar_c_images, rng), shape.cifar_c_images, key + "/synth")))
        settings += [_setting(config, runs, grid, shape), _setting(config.replace(synthetic="synth.npz"), synth, grid, shape)]
    claims = scope_claims(Scope("cifar10", "small_cnn", settings), float(np.clip(scale, grid[0], grid[-1])))
    return {c.id: c.verdict for c in claims}


def neg_records(curve: np.ndarray, thresholds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, n) NEG correctness following accuracy ``curve`` (T,): image i is right while its ``thresholds[i]``
    (uniform, shared by every run of a draw) plus a churn of 0.02 is below the curve plus 0.3 pp of jitter."""
    jittered = curve + rng.normal(0, 0.003, len(curve))
    churn = 0.02 * rng.standard_normal((len(curve), len(thresholds)), dtype=np.float32)
    return (thresholds[None, :] + churn) < jittered[:, None]


def flat_fall(shape: Shape, draws: int, seed: int) -> np.ndarray:
    """4a's fall of ``draws`` NEG curves that rise and then stay flat (the null of 4a), at ``shape``."""
    rng = np.random.default_rng([seed, shape.points])
    t = np.arange(1, shape.points + 1) / shape.points
    test_acc = 0.3 + 0.5 * (1 - np.exp(-5 * t))
    out = np.empty(draws)
    for k in range(draws):
        correct = neg_records(_neg_flat(t), rng.uniform(size=shape.neg_images), rng)
        out[k] = statistics.neg_fall(correct.mean(axis=1), test_acc + rng.normal(0, 0.003, shape.points))
    return out


def _observed(p: float, n: int, rng: np.random.Generator) -> float:
    """An accuracy ``p`` measured on ``n`` images."""
    return rng.binomial(n, float(np.clip(p, 0, 1))) / n


def _setting(config: TrainConfig, runs: list[RunEvidence], grid: np.ndarray, shape: Shape) -> SettingEvidence:
    setting = Setting.of(config)
    return SettingEvidence(
        label=setting.label, dataset="cifar10", model="small_cnn", method=config.method, epsilon_255=config.epsilon_255,
        data=setting.data, paper_method=True, sort_key=setting.sort_key,
        pair_key=(config.method, config.epsilon_255), config=config, test_images="simulated", num_points=shape.points,
        thresholds=grid, averaged_seeds=tuple(r.seed for r in runs),
        shares=np.mean([r.shares[0] for r in runs], axis=0), runs=runs)


@dataclass
class Rates:
    """Verdict counts of one claim over ``draws`` draws of one world at one shape."""

    holds: int
    fails: int
    draws: int

    def rate(self, verdict: str) -> tuple[float, float]:
        """The share of draws with ``verdict`` and its Monte Carlo standard error (binomial; 0 when no
        draw had it, whose one-sided 95 % upper bound is 3 / draws)."""
        k = self.holds if verdict == HOLDS else self.fails
        p = k / self.draws
        return p, float(np.sqrt(p * (1 - p) / self.draws))


def run_world(shape: Shape, world: str, draws: int, seed: int) -> dict[str, Rates]:
    """Every claim's verdict counts over ``draws`` draws of ``world`` at ``shape``, seeded by ``seed``."""
    rng = np.random.default_rng([seed, WORLDS.index(world), shape.points])
    counts = {c: Rates(0, 0, draws) for c in CLAIMS}
    for _ in range(draws):
        for claim, verdict in draw(shape, world, rng).items():
            counts[claim].holds += verdict == HOLDS
            counts[claim].fails += verdict == FAILS
    return counts
