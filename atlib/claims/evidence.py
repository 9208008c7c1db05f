"""What the claims read from runs, gathered with one pass over each run's test records.

Per run: the mean-entropy curve, the entropies at the last record point, the learning profiles
(true-class probability and global accuracy at every record point, :func:`atlib.metrics.summarize_records`)
and the point-category shares of that run's own profile at every threshold of the grid; the NEG
and test accuracy curves from the record index; clean, robust and CIFAR-C accuracy from
``metrics.json``. Per setting: the category shares of the seed-averaged profile, which sums the
seeds' profiles in seed order exactly as :func:`atlib.analysis.profiles` does, so the shares equal
:func:`atlib.analysis.category_table`'s.

Runs are read in threads (NumPy releases the GIL in the heavy loops); only finished runs count.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from atlib import metrics
from atlib.config import TrainConfig
from atlib.store.runs import Run, RunGroup
from atlib.setting import Setting

ROBUST_EPS = "8"  # robust accuracy is compared at PGD 8/255, the budget every run evaluates by default
PAPER_METHODS = ("nt", "at")  # the methods the paper's claims are about (without options); others are shown beside them


@dataclass
class RunEvidence:
    """One finished run, reduced to what the claims need."""

    seed: int
    time: np.ndarray  # (T,) record points as a share of training (epoch / epochs)
    mean_entropy: np.ndarray  # (T,) nats
    final_entropy: np.ndarray  # (2,) mean and interquartile range of the test entropies at the last point
    shares: np.ndarray  # (K, 4) category percentages of this run's own profile at each threshold
    test_acc: np.ndarray  # (T,) recorded
    neg_acc: np.ndarray | None  # (T,) recorded, None without NEG records
    clean_acc: float
    robust_acc: float  # PGD at ROBUST_EPS/255; NaN if not evaluated
    cifar_c: float  # seed-paper convention (19 corruptions); NaN if not evaluated
    cifar_c_kind: str | None  # "released" / "generated" / None


@dataclass
class SettingEvidence:
    """One setting (a group of seeds): its identity and its runs' evidence."""

    label: str
    dataset: str
    model: str
    method: str
    epsilon_255: float
    data: str  # "original", or the synthetic set's tag ("synth", "standin")
    paper_method: bool  # NT or plain PGD-AT (no AWP, EMA or other option): enters the verdicts
    sort_key: tuple  # atlib.setting.Setting.sort_key: the order settings are shown in
    pair_key: tuple  # the setting's identity with its data left out: pairs runs with and without synthesized data
    num_classes: int
    num_points: int
    thresholds: np.ndarray  # (K,) the grid the shares are computed at
    shares: np.ndarray  # (K, 4) category percentages of the seed-averaged profile
    runs: list[RunEvidence]

    @property
    def synthetic(self) -> bool:
        return self.data != "original"

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def has_neg(self) -> bool:
        return all(r.neg_acc is not None for r in self.runs)


def finished(group: RunGroup) -> RunGroup | None:
    """The group's finished runs as a group (None if none has finished): claims are about trained models."""
    done = [r for r in group.runs if r.complete]
    return RunGroup(done) if done else None


def collect(groups: Sequence[RunGroup], thresholds: np.ndarray, workers: int | None = None) -> list[SettingEvidence]:
    """Read every run of ``groups`` once, ``workers`` threads at a time (default: one per CPU core).

    All runs share one pool, so threads stay busy across groups. Groups are assembled in order as
    their runs are read, and each one's learning profiles (38 MB per run at the paper's scale) are
    let go once its seed-averaged profile is formed.
    """
    out = []
    with cf.ThreadPoolExecutor(max(1, workers or os.cpu_count() or 1)) as pool:
        pending = [[pool.submit(_scan_run, run, g.num_points, thresholds) for run in g.runs] for g in groups]
        for k, group in enumerate(groups):
            scanned = [future.result() for future in pending[k]]
            pending[k] = []
            out.append(_setting(group, scanned, thresholds))
    return out


def _setting(group: RunGroup, scanned: list[tuple[RunEvidence, metrics.RecordSummary]],
             thresholds: np.ndarray) -> SettingEvidence:
    """A group's evidence from its runs' (in seed order)."""
    t = group.num_points
    confidences, accuracies = 0.0, 0.0
    for _, summary in scanned:  # seed order, as analysis.profiles sums them
        confidences, accuracies = confidences + summary.confidences, accuracies + summary.accuracies
    n = len(scanned)
    shares = _shares(confidences / n, accuracies / n, thresholds)
    setting = group.setting
    return SettingEvidence(
        label=setting.label, dataset=setting.dataset, model=setting.model, method=setting.method,
        epsilon_255=setting.epsilon_255, data=setting.data,
        paper_method=setting.method in PAPER_METHODS and not setting.options, sort_key=setting.sort_key,
        pair_key=pair_key(group.config), num_classes=int(group.runs[0].probs("test").shape[-1]), num_points=t,
        thresholds=thresholds, shares=shares, runs=[run for run, _ in scanned],
    )


def pair_key(config: TrainConfig) -> tuple:
    """Everything that defines a setting but its seed and its data (synthesized set, tag and share)."""
    defaults = TrainConfig(method="nt")
    return Setting.of(config.replace(synthetic=None, synthetic_tag=defaults.synthetic_tag,
                                     synthetic_fraction=defaults.synthetic_fraction)).key


def _shares(confidences: np.ndarray, accuracies: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    if len(accuracies) < 2:  # a profile needs two points to drop
        return np.full((len(thresholds), len(metrics.CATEGORIES)), np.nan)
    return metrics.category_shares(confidences, accuracies, thresholds)


def _scan_run(run: Run, t: int, thresholds: np.ndarray) -> tuple[RunEvidence, metrics.RecordSummary]:
    probs = run.probs("test")[:t]
    summary = metrics.summarize_records(probs, run.labels("test"))
    final = metrics.entropy(probs[t - 1])
    q1, q3 = np.percentile(final, [25, 75])
    epochs = run.epochs[:t]
    cifar_c = run.metrics.get("cifar_c") or {}
    evidence = RunEvidence(
        seed=run.config.seed, time=epochs / run.config.epochs, mean_entropy=summary.mean_entropy,
        final_entropy=np.array([final.mean(), q3 - q1]), shares=_shares(summary.confidences, summary.accuracies, thresholds),
        test_acc=run.point_values("test_acc")[:t], neg_acc=run.point_values("neg_acc")[:t] if run.has("neg") else None,
        clean_acc=_number(run.metrics.get("clean_acc")), robust_acc=_number((run.metrics.get("robust_acc") or {}).get(ROBUST_EPS)),
        cifar_c=_number(cifar_c.get("seed_paper_mean")), cifar_c_kind=(cifar_c.get("source") or {}).get("kind"),
    )
    return evidence, summary


def _number(value: object) -> float:
    return float("nan") if value is None else float(value)
