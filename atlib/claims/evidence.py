"""What the claims read from runs, gathered with one pass over each run's test records.

Per run (:class:`RunEvidence`): every claim's statistic with its image-resampling replicates
(:mod:`atlib.claims.statistics`), computed from per-image quantities: each test image's final
entropy and its entropy integrated over training, its total confidence drop and nearest template
under the run's own learning profile, each NEG image's correctness at every record point; clean,
robust and CIFAR-C accuracy from the final metrics. Per setting (:class:`SettingEvidence`): its
config (for the recipe check), which test images it was scored on, and the category shares of the
profile averaged over the seeds every setting of the scope shares (the sign check of claims 3a-3c),
summed in seed order exactly as :func:`atlib.analysis.profiles` does.

Runs are read in threads (NumPy releases the GIL in the heavy loops); only finished runs count.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from atlib import metrics
from atlib.claims import statistics
from atlib.config import TrainConfig
from atlib.setting import Setting
from atlib.store.runs import Run, RunGroup

ROBUST_EPS = "8"  # robust accuracy is compared at PGD 8/255, the budget every run evaluates by default
CIFAR_C_IMAGES = 10_000  # every CIFAR-C file corrupts the whole test set (a generated one may be limited to fewer)
PAPER_METHODS = ("nt", "at")  # the methods the paper's claims are about (without options); others are shown beside them


@dataclass
class RunEvidence:
    """One finished run, reduced to what the claims need: each statistic as (1 + B,) arrays, row 0
    the statistic, rows 1..B its values under the report's image resamples."""

    seed: int
    entropy_mean: np.ndarray  # 1a: mean entropy of the test predictions at the last record point (nats)
    entropy_iqr: np.ndarray  # 1b: their interquartile range (nats)
    entropy_rate: np.ndarray  # 2: normalised area under the falling entropy curve (share of training)
    entropy_fallen: float  # 2: (log C - H_end) / log C, how much of its range the curve falls
    shares: np.ndarray  # (1 + B, K, 4) category percentages of this run's own profile at each threshold
    neg_fall: np.ndarray | None  # 4a (accuracy units); None without NEG records
    neg_decrease: np.ndarray | None  # 4b (accuracy units)
    clean_acc: np.ndarray  # 6b
    robust_acc: np.ndarray  # 6a: PGD at ROBUST_EPS/255; NaN if not evaluated
    cifar_c: np.ndarray  # 5: seed-paper convention (19 corruptions); NaN if not evaluated
    cifar_c_kind: str | None  # "released" / "generated" / None


def run_evidence(seed: int, key: str, *, time: np.ndarray, log_c: float, final_entropy: np.ndarray,
                 entropy_area: np.ndarray, drop: np.ndarray, nearest: np.ndarray, thresholds: np.ndarray,
                 test_acc: np.ndarray, neg_correct: np.ndarray | None, clean_acc: float, robust_acc: float, robust_n: int,
                 cifar_c: float, cifar_c_n: int, cifar_c_kind: str | None) -> RunEvidence:
    """A run's evidence from its per-image quantities (the report reads them from records; the
    calibration benchmark simulates them). ``key``: the run's identity, seeding the normal draws of
    its stored accuracies; ``entropy_area``: per image, ``w @ H`` with ``w`` from
    :func:`atlib.claims.statistics.trapezoid_weights` of ``time`` (the H_0 term is added here)."""
    n = len(final_entropy)
    weights = statistics.image_weights(n)
    _, w0 = statistics.trapezoid_weights(time)
    rate, fallen = statistics.entropy_rate(entropy_area + w0 * log_c, final_entropy, float(time[-1]), log_c, weights)
    fall = decrease = None
    if neg_correct is not None:
        fall, decrease = statistics.neg_statistics(neg_correct, test_acc, statistics.image_weights(neg_correct.shape[1]))
    return RunEvidence(
        seed=seed, entropy_mean=statistics.weighted_mean(final_entropy, weights),
        entropy_iqr=statistics.interquartile_range(final_entropy, weights), entropy_rate=rate,
        entropy_fallen=float(fallen[0]), shares=statistics.category_shares(drop, nearest, thresholds, weights),
        neg_fall=fall, neg_decrease=decrease,
        clean_acc=statistics.accuracy_replicates(clean_acc, n, f"{key}/clean"),
        robust_acc=statistics.accuracy_replicates(robust_acc, robust_n, f"{key}/robust"),
        cifar_c=statistics.accuracy_replicates(cifar_c, cifar_c_n, f"{key}/cifar_c"), cifar_c_kind=cifar_c_kind)


@dataclass
class SettingEvidence:
    """One setting (a group of seeds): its identity, recipe and its runs' evidence."""

    label: str
    dataset: str
    model: str
    method: str
    epsilon_255: float
    data: str  # "original", or the synthetic set's tag ("synth", "standin")
    paper_method: bool  # NT or plain PGD-AT (no AWP, EMA or other option): enters the verdicts
    sort_key: tuple  # atlib.setting.Setting.sort_key: the order settings are shown in
    pair_key: tuple  # the setting's identity with its data left out: pairs runs with and without synthesized data
    config: TrainConfig  # its first run's, as TrainConfig.from_dict reads it
    test_images: str  # digest of the test images it was scored on (Run.test_index)
    num_points: int
    thresholds: np.ndarray  # (K,) the grid the shares are computed at
    averaged_seeds: tuple[int, ...]  # the seeds whose profiles `shares` averages
    shares: np.ndarray  # (K, 4) category percentages of the profile averaged over averaged_seeds
    runs: list[RunEvidence]

    @property
    def synthetic(self) -> bool:
        return self.data != "original"

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def has_neg(self) -> bool:
        return all(r.neg_fall is not None for r in self.runs)


def finished(group: RunGroup) -> RunGroup | None:
    """The group's finished runs as a group (None if none has finished): claims are about trained models."""
    done = [r for r in group.runs if r.complete]
    return RunGroup(done) if done else None


def collect(groups: Sequence[RunGroup], thresholds: np.ndarray, workers: int | None = None,
            average_over: Sequence[int] | None = None) -> list[SettingEvidence]:
    """Read every run of ``groups`` once, ``workers`` threads at a time (default: one per CPU core).

    Each setting's seed-averaged profile averages its runs of seeds ``average_over`` (all its seeds
    when None or when it has none of them). All runs share one pool, so threads stay busy across
    groups; each group's learning profiles (38 MB per run at the paper's scale) are let go once its
    seed-averaged profile is formed.
    """
    out = []
    with cf.ThreadPoolExecutor(max(1, workers or os.cpu_count() or 1)) as pool:
        pending = [[pool.submit(_scan_run, run, g.num_points, thresholds) for run in g.runs] for g in groups]
        for k, group in enumerate(groups):
            scanned = [future.result() for future in pending[k]]
            pending[k] = []
            out.append(_setting(group, scanned, thresholds, average_over))
    return out


def _setting(group: RunGroup, scanned: list[tuple[RunEvidence, metrics.RecordSummary, str]], thresholds: np.ndarray,
             average_over: Sequence[int] | None) -> SettingEvidence:
    """A group's evidence from its runs' (in seed order)."""
    chosen = [item for item in scanned if average_over is None or item[0].seed in average_over] or scanned
    confidences, accuracies = 0.0, 0.0
    for _, summary, _ in chosen:  # seed order, as analysis.profiles sums them
        confidences, accuracies = confidences + summary.confidences, accuracies + summary.accuracies
    n = len(chosen)
    if group.num_points < 2:  # a profile needs two points to drop
        shares = np.full((len(thresholds), len(metrics.CATEGORIES)), np.nan)
    else:
        shares = metrics.category_shares(confidences / n, accuracies / n, thresholds)
    digests = sorted({digest for _, _, digest in scanned})
    setting = group.setting
    return SettingEvidence(
        label=setting.label, dataset=setting.dataset, model=setting.model, method=setting.method,
        epsilon_255=setting.epsilon_255, data=setting.data,
        paper_method=setting.method in PAPER_METHODS and not setting.options, sort_key=setting.sort_key,
        pair_key=pair_key(group.config), config=group.runs[0].config, test_images="+".join(digests),
        num_points=group.num_points, thresholds=thresholds, averaged_seeds=tuple(r.seed for r, _, _ in chosen),
        shares=shares, runs=[run for run, _, _ in scanned],
    )


def pair_key(config: TrainConfig) -> tuple:
    """Everything that defines a setting but its seed and its data (synthesized set, tag and share)."""
    defaults = TrainConfig(method="nt")
    return Setting.of(config.replace(synthetic=None, synthetic_tag=defaults.synthetic_tag,
                                     synthetic_fraction=defaults.synthetic_fraction)).key


def _scan_run(run: Run, t: int, thresholds: np.ndarray) -> tuple[RunEvidence, metrics.RecordSummary, str]:
    probs = run.probs("test")[:t]
    time = run.epochs[:t] / run.config.epochs
    weights, _ = statistics.trapezoid_weights(time)
    summary = metrics.summarize_records(probs, run.labels("test"), weights)
    num_classes = probs.shape[-1]
    if t >= 2:
        drop, nearest = metrics.drops_and_nearest(summary.confidences, summary.accuracies)
    else:  # no profile: every image counts as "no category" (the category claims say why they cannot tell)
        drop, nearest = np.zeros(probs.shape[1]), np.full(probs.shape[1], -1)
    neg = None
    if run.has("neg"):
        neg = run.probs("neg")[:t].argmax(-1) == run.labels("neg")[None, :]
    cifar_c = run.cifar_c
    source = cifar_c.get("source") or {}
    evidence = run_evidence(
        run.config.seed, run.name, time=time, log_c=float(np.log(num_classes)),
        final_entropy=metrics.entropy(probs[t - 1]), entropy_area=summary.entropy_area, drop=drop, nearest=nearest,
        thresholds=thresholds, test_acc=run.point_values("test_acc")[:t], neg_correct=neg,
        clean_acc=_number(run.clean_acc), robust_acc=_number(run.robust_acc.get(ROBUST_EPS)),
        robust_n=run.config.robust_eval_n, cifar_c=_number(cifar_c.get("seed_paper_mean")),
        cifar_c_n=int((source.get("generation") or {}).get("images_per_severity") or CIFAR_C_IMAGES), cifar_c_kind=source.get("kind"))
    digest = hashlib.sha1(np.ascontiguousarray(run.test_index(), dtype=np.int64).tobytes()).hexdigest()[:12]
    return evidence, summary, digest


def _number(value: object) -> float:
    return float("nan") if value is None else float(value)
