"""The claims report on fake runs whose records make each claim hold, fail, or be undecidable.

Runs come from tests/fakeruns.py (exact on-disk layout, no training). A setting's records are
built from a *rank* r (0 for NT, 1 for AT ε=2/255, 2 for AT ε=8/255 in the paper's world; 2 - r
in the reversed world): larger r learns more slowly, ends less confident and more spread, has more
hard and fewer non-monotone points, a steadier NEG curve, higher robust and lower clean accuracy,
and gains more CIFAR-C accuracy from synthesized data. Verdicts are computed by atlib.claims and
compared with what the design implies; statistics are compared with direct computations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakeruns import make_run

from scipy import stats

from atlib import analysis, metrics
from atlib.claims import FAILS, HOLDS, UNCLEAR, Less, Value, calibration, judge, report_for, statistics
from atlib.claims.report import short_statistic
from atlib.claims.statistics import neg_fall
from atlib.config import METHODS, TrainConfig
from atlib.store.io import save_npy
from atlib.store.runs import group_seeds, load_runs

REPO = Path(__file__).resolve().parents[1]
T, N, C, N_NEG = 8, 600, 10, 1000
LABELS = np.arange(N) % C
NEG_LABELS = np.arange(N_NEG) % C
HARD = (30, 60, 90)  # hard points per rank
NON_MONOTONE = (180, 120, 60)  # zigzag points per rank
NEG_CURVES = (  # CIFAR-10-NEG accuracy per record point, per rank
    (0.2, 0.4, 0.6, 0.5, 0.3, 0.25, 0.3, 0.35),  # rises, falls by 0.35 while test accuracy rises
    (0.2, 0.3, 0.35, 0.325, 0.35, 0.375, 0.4, 0.425),  # one small dip of 0.025
    (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55),  # steady
)
EPS = {0: ("nt", 0.0), 1: ("at", 2.0), 2: ("at", 8.0)}
ALL_IDS = ["1a", "1b", "2", "3a", "3b", "3c", "4a", "4b", "5a", "5b", "6a", "6b"]


def confidences(rank: int, seed: int, zigzag: float = 0.5) -> np.ndarray:
    """(T, N) true-class probabilities of one run: hard points flat at 0.02, zigzag points swinging
    by ``zigzag`` around a rising trend (ending at the top), one late learner per record point, the
    rest rising (slower for larger rank) to a final value that is lower and more spread for larger
    rank; seeds differ by < 0.005."""
    rng = np.random.default_rng(100 * rank + seed)
    time = (np.arange(T)[:, None] + 1) / T
    final = 0.97 - 0.1 * rank + 0.1 * rank * np.linspace(-1, 1, N)[None, :]
    conf = 0.3 + (final - 0.3) * time ** (0.5 * 2**rank)
    hard, wavy = HARD[rank], NON_MONOTONE[rank]
    conf[:, :hard] = 0.02
    swing = zigzag * ((T - 1 - np.arange(T)) % 2)[:, None]
    conf[:, hard:hard + wavy] = np.clip(0.6 + 0.37 * time - swing, 0.02, 0.97)
    for k in range(1, T):  # late learners, wrong until point k: test accuracy keeps rising
        conf[:k, hard + wavy + k] = 0.05
    return np.clip(conf + rng.uniform(0, 0.004, size=conf.shape), 0.0, 0.99)


def probs_from(conf: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax-like rows: the true class gets ``conf``, the other classes share the rest equally."""
    out = np.repeat(((1.0 - conf) / (C - 1))[..., None], C, axis=-1)
    np.put_along_axis(out, labels[None, :, None], conf[..., None], axis=-1)
    return out


def neg_probs(curve: tuple[float, ...]) -> np.ndarray:
    """NEG records whose accuracy follows ``curve``: the first round(a * N_NEG) points are right."""
    conf = np.stack([np.where(np.arange(N_NEG) < round(a * N_NEG), 0.9, 0.0) for a in curve])
    wrong = probs_from(np.full_like(conf, 0.9), (NEG_LABELS + 1) % C)
    return np.where(conf[..., None] > 0, probs_from(conf, NEG_LABELS), wrong)


def world(out: Path, *, reverse: bool = False, ranks=(0, 1, 2), seeds=(0, 1), neg: bool = True, cifar_c: bool = True,
          synthetic: str | None = "synth", dataset: str = "cifar10", robust_flip_seed: int | None = None,
          zigzag: dict[int, float] | None = None, neg_curves: dict[int, tuple[float, ...]] | None = None,
          changes: dict[int, dict] | None = None, gains: tuple[float, float, float] | None = None,
          sources: dict[tuple[int, str | None], str] | None = None, conf=None, rank_of_seed=None) -> Path:
    """Write every setting of ``ranks`` (with and without synthesized data) for every seed.

    Overrides per position (0 NT, 1 AT 2/255, 2 AT 8/255): ``neg_curves``, config ``changes``, CIFAR-C
    ``gains`` and ``sources`` (kind per (position, tag)), ``conf(position, seed)`` for the test records;
    ``rank_of_seed(position, seed)`` the rank a seed's records are built from."""
    gains = gains or ((0.10, -0.03, -0.06) if reverse else (0.005, 0.03, 0.06))
    for position in ranks:
        rank = 2 - position if reverse else position
        method, eps = EPS[position]
        for seed in seeds:
            seed_rank = rank_of_seed(position, seed) if rank_of_seed else rank
            for tag in (None, synthetic) if synthetic else (None,):
                config = TrainConfig(dataset=dataset, model="small_cnn", method=method, epsilon_255=eps or 8, seed=seed,
                                     epochs=4, record_per_epoch=2, synthetic=f"/data/{tag}.npz" if tag else None,
                                     synthetic_tag=tag or "synth").replace(**(changes or {}).get(position, {}))
                robust_rank = 2 - seed_rank if seed == robust_flip_seed else seed_rank
                metrics_json = {"clean_acc": 0.8 - 0.1 * seed_rank + 0.001 * seed, "neg_acc": None,
                                "robust_acc": {"8": 0.05 + 0.15 * robust_rank - 0.001 * seed}}
                if cifar_c:
                    accuracy = 0.6 - 0.05 * seed_rank + (gains[position] if tag else 0.0)
                    kind = (sources or {}).get((position, tag), "generated")
                    metrics_json["cifar_c"] = {"seed_paper_mean": accuracy, "source": {"kind": kind}}
                records = conf(position, seed) if conf else confidences(seed_rank, seed, (zigzag or {}).get(position, 0.5))
                curve = (neg_curves or {}).get(position, NEG_CURVES[seed_rank])
                make_run(out, config, probs_from(records, LABELS), LABELS, neg_probs(curve) if neg else None,
                         NEG_LABELS if neg else None, metrics=metrics_json)
    return out


def verdicts(report) -> dict[str, str]:
    return {c.id: c.verdict for c in report.claims}


def claim(report, claim_id: str):
    return next(c for c in report.claims if c.id == claim_id)


# ----------------------------------------------------------------------------- the rule


def _v(label: str, values: list[float], seeds=None, replicates=None) -> Value:
    seeds = tuple(range(len(values))) if seeds is None else tuple(seeds)
    return Value(label, "at", 0.0, "original", seeds, tuple(values), float(np.mean(values)),
                 replicates=None if replicates is None else np.asarray(replicates, dtype=float))


def test_rule_interval_is_a_t_interval_on_paired_differences_plus_the_image_error() -> None:
    a, b = _v("a", [1.0, 2.0, 3.0]), _v("b", [2.0, 4.0, 4.5])
    judgement = judge([Less(a, b)], minimum=0.0)
    d = np.array([1.0, 2.0, 1.5])
    half = stats.t.ppf(0.95, 2) * d.std(ddof=1) / np.sqrt(3)
    (diff,) = judgement.differences
    assert (diff.estimate, diff.low, diff.high) == pytest.approx((1.5, 1.5 - half, 1.5 + half))
    assert judgement.verdict == HOLDS
    # image replicates add in quadrature; the same resample moves both settings, so a shared shift cancels
    rng = np.random.default_rng(0)
    shift = rng.normal(0, 1, size=(3, 50))
    paired = judge([Less(_v("a", [1.0, 2.0, 3.0], replicates=shift + [[1.0], [2.0], [3.0]]),
                         _v("b", [2.0, 4.0, 4.5], replicates=shift + [[2.0], [4.0], [4.5]]))], 0.0).differences[0]
    assert paired.low == pytest.approx(diff.low)
    noisy = judge([Less(a, _v("b", [2.0, 4.0, 4.5], replicates=shift + [[2.0], [4.0], [4.5]]))], 0.0).differences[0]
    image = stats.norm.ppf(0.95) * shift.mean(axis=0).std(ddof=1)
    assert 1.5 - noisy.low == pytest.approx(np.hypot(half, image))


def test_rule_needs_every_seed_the_interval_and_the_minimum_effect() -> None:
    low, high = _v("a", [1.0, 1.1]), _v("b", [3.0, 3.2])
    assert judge([Less(low, high)], 0.5).verdict == HOLDS
    assert judge([Less(high, low)], 0.5).verdict == FAILS
    short = judge([Less(low, high)], 3.0)  # the interval's near end must reach the minimum, not the estimate
    assert short.verdict == UNCLEAR and "short of the minimum effect" in short.reason
    crossing = judge([Less(_v("c", [1.0, 2.0]), _v("d", [3.0, 1.9]))], 0.0)
    assert crossing.verdict == UNCLEAR and crossing.reason.endswith("seed 1 orders against it")
    wide = judge([Less(_v("e", [1.0, 1.0]), _v("f", [1.1, 3.0]))], 0.0)  # both seeds order, the t-interval spans 0
    assert wide.verdict == UNCLEAR and wide.reason.endswith("the interval includes 0")


def test_rule_matches_seeds_by_number_and_needs_two() -> None:
    judgement = judge([Less(_v("a", [1.0]), _v("b", [2.0, 3.0]))], 0.0)
    assert judgement.verdict == UNCLEAR and judgement.reason.startswith("one seed: a has a single seed")
    judgement = judge([Less(_v("a", [1.0, 1.0]), _v("b", [2.0, 3.0], seeds=(1, 2)))], 0.0)
    assert judgement.verdict == UNCLEAR and "share only seeds [1]" in judgement.reason
    # seed 1 of a (5.0) against seed 1 of b (6.0): matched by number, not by position; seed 0 takes no part
    judgement = judge([Less(_v("a", [90.0, 5.0, 1.0], seeds=(0, 1, 2)), _v("b", [6.0, 2.0], seeds=(1, 2)))], 0.0)
    assert judgement.differences[0].seeds == (1, 2) and judgement.differences[0].per_seed == (1.0, 1.0)


def test_neg_fall() -> None:
    test = np.linspace(0.3, 0.8, 8)
    assert neg_fall(np.array(NEG_CURVES[0]), test) == pytest.approx(0.35)
    assert neg_fall(np.array(NEG_CURVES[2]), test) == 0.0  # peak at the end: no fall
    assert neg_fall(np.array([0.5, 0.4, 0.3]), test[:3]) == 0.0  # never rises
    flat_test = np.array([0.5, 0.6, 0.7, 0.7, 0.7])
    assert neg_fall(np.array([0.1, 0.2, 0.5, 0.1, 0.1]), flat_test) == 0.0  # test accuracy does not rise after the peak
    curves = np.array([NEG_CURVES[0], NEG_CURVES[2]])
    np.testing.assert_allclose(neg_fall(curves, test), [0.35, 0.0])  # one curve per row


def test_image_statistics_equal_direct_computations() -> None:
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, size=301)
    weights = statistics.image_weights(301)
    assert weights.shape == (1 + statistics.IMAGE_REPLICATES, 301) and (weights.sum(axis=1) == 301).all()
    assert weights is statistics.image_weights(301)  # one resample for every run of a report
    iqr = statistics.interquartile_range(values, weights)
    assert iqr[0] == pytest.approx(np.subtract(*np.percentile(values, [75, 25])), rel=1e-12)
    resampled = np.repeat(values, weights[5].astype(int))
    assert iqr[5] == pytest.approx(np.subtract(*np.percentile(resampled, [75, 25])), rel=1e-12)
    time = np.array([0.25, 0.5, 1.0])
    w, w0 = statistics.trapezoid_weights(time)
    curve = np.array([2.0, 1.0, 0.5])
    assert w0 * 3.0 + w @ curve == pytest.approx(np.trapezoid([3.0, *curve], [0.0, *time]))
    # a curve that falls at once from log C to its floor has rate 0; a straight line 0.5
    log_c = np.log(10)
    for heights, expected in (([0.4, 0.4, 0.4], None), ([log_c * 0.75 + 0.1, log_c * 0.5 + 0.2, 0.4], None)):
        area = np.full(4, w0 * log_c + w @ np.array(heights))
        rate, fallen = statistics.entropy_rate(area, np.full(4, 0.4), 1.0, log_c, np.ones((1, 4)))
        direct = np.trapezoid((np.array([log_c, *heights]) - 0.4) / (log_c - 0.4), [0.0, *time])
        assert rate[0] == pytest.approx(direct) and fallen[0] == pytest.approx((log_c - 0.4) / log_c)


# ----------------------------------------------------------------------------- the claims on fake runs


def test_every_claim_holds_in_the_papers_world(tmp_path: Path) -> None:
    report = report_for(world(tmp_path))
    assert [c.id for c in report.claims] == ALL_IDS
    assert verdicts(report) == dict.fromkeys(ALL_IDS, HOLDS), [(c.id, c.reason) for c in report.claims]
    assert report.notes == []


def test_every_claim_fails_in_the_reversed_world(tmp_path: Path) -> None:
    report = report_for(world(tmp_path, reverse=True))
    assert verdicts(report) == dict.fromkeys(ALL_IDS, FAILS), [(c.id, c.reason) for c in report.claims]


def test_positive_controls_hold_at_two_seeds(tmp_path: Path) -> None:
    """NT's NEG accuracy rises to 60 % and falls to 25 % while test accuracy rises; larger ε falls more slowly
    from the same start (every confidence starts at 0.3): 4a and 2 hold with the demo's 2 seeds."""
    report = report_for(world(tmp_path))
    assert NEG_CURVES[0][2] == 0.6 and NEG_CURVES[0][5] == 0.25
    assert (claim(report, "4a").verdict, claim(report, "2").verdict) == (HOLDS, HOLDS)
    assert claim(report, "4a").differences[0].low > 0.05  # the fall's lower end, above the 5 pp minimum fall


def test_flat_neg_curve_is_no_fall(tmp_path: Path) -> None:
    """A NEG curve that rises and then stays flat with 0.3 pp of jitter does not fall materially (held before)."""
    flat = (0.2, 0.4, 0.6, 0.597, 0.603, 0.598, 0.602, 0.599)
    report = report_for(world(tmp_path, neg_curves={0: flat}))
    fall = claim(report, "4a")
    assert fall.values[0].per_seed == pytest.approx((0.005, 0.005))
    assert fall.verdict == FAILS and fall.differences[0].high < 0.05


def _settling(position: int, seed: int) -> np.ndarray:
    """Test confidences that rise from 0.1 (entropy near log C) with time constant (0.5, 0.2, 0.08) of training
    to a floor (0.97, 0.8, 0.6): a larger ε falls faster, to a higher entropy."""
    tau, final = (0.5, 0.2, 0.08)[position], (0.97, 0.8, 0.6)[position]
    time = (np.arange(T)[:, None] + 1) / T
    conf = 0.1 + (final - 0.1) * (1 - np.exp(-time / tau)) / (1 - np.exp(-1 / tau))
    rng = np.random.default_rng(seed)
    return np.clip(np.repeat(conf, N, axis=1) + rng.uniform(0, 0.004, size=(T, N)), 0, 0.99)


def test_faster_fall_to_a_higher_floor_is_not_slower(tmp_path: Path) -> None:
    """Claim 2 reads the rate, not the level: entropy curves where a larger ε falls faster to a higher floor
    (a higher area under the curve, which held before) do not hold."""
    report = report_for(world(tmp_path, conf=_settling))
    rates = [v.mean for v in claim(report, "2").values]
    assert rates == sorted(rates, reverse=True)  # faster: a smaller normalised area
    assert claim(report, "2").verdict == FAILS
    assert claim(report, "1a").verdict == HOLDS  # the floors still order as Fig 1a says


def test_mixed_recipes_cannot_tell_unless_allowed(tmp_path: Path) -> None:
    runs = world(tmp_path, changes={0: {"epochs": 8, "record_per_epoch": 1, "lr": 0.05, "test_subset": 500}})
    report = report_for(runs)
    for claim_id in ("1a", "2", "6a", "6b"):
        c = claim(report, claim_id)
        assert c.verdict == UNCLEAR, claim_id
        assert c.reason == ("recipes differ in epochs (8 vs 4), lr (0.05 vs 0.1), record_per_epoch (1 vs 2), "
                            "test_subset (500 vs None)"), c.reason
    assert claim(report, "4a").verdict == HOLDS  # NT alone: nothing to compare
    allowed = report_for(runs, allow_mixed_recipes=True)
    assert claim(allowed, "1a").verdict == HOLDS
    assert any(n.startswith("recipes differ in epochs (8 vs 4)") and n.endswith("(--allow-mixed-recipes)")
               for n in claim(allowed, "1a").notes)


def test_result_neutral_and_method_fields_do_not_split_recipes(tmp_path: Path) -> None:
    changes = {0: {"eval_batch_size": 7, "pgd_steps": 3, "progress": False}, 1: {"record_train": False}}
    report = report_for(world(tmp_path, changes=changes))  # NT's PGD fields are unused: no difference
    assert verdicts(report) == dict.fromkeys(ALL_IDS, HOLDS), [(c.id, c.reason) for c in report.claims]
    report = report_for(world(tmp_path / "b", changes={1: {"pgd_steps": 3}}))  # two AT settings' PGD fields count
    assert claim(report, "6a").reason == "recipes differ in pgd_steps (3 vs 10)"


def test_cifar_c_gains_compare_magnitudes(tmp_path: Path) -> None:
    """NT -6 pp against AT +1 / +2 pp: NT's accuracy changes more (held before, on signed gains)."""
    report = report_for(world(tmp_path, gains=(-0.06, 0.01, 0.02)))
    assert [v.mean for v in claim(report, "5b").values] == pytest.approx([-0.06, 0.01, 0.02])
    assert claim(report, "5b").verdict == FAILS


def test_mixed_cifar_c_sources_cannot_tell(tmp_path: Path) -> None:
    report = report_for(world(tmp_path, sources={(0, "synth"): "released"}))
    for claim_id in ("5a", "5b"):
        c = claim(report, claim_id)
        assert c.verdict == UNCLEAR and "CIFAR-C scored on different sources (generated: " in c.reason, c.reason
        assert "released: NT + synth seed 0, NT + synth seed 1)" in c.reason


def test_a_seed_only_one_setting_has_changes_nothing(tmp_path: Path) -> None:
    """NT gets a seed 2 that no AT setting has, with uniform test predictions and AT ε=8/255's other numbers: with
    it in NT's mean (0.29, 0.29, 2.30 nats against AT ε=2/255's 0.63, 0.63), 1a could not be told before."""
    shared = report_for(world(tmp_path / "a"))
    out = world(tmp_path / "b")
    world(out, ranks=(0,), seeds=(2,), rank_of_seed=lambda position, seed: 2, conf=lambda position, seed: np.full((T, N), 0.1))
    extra = report_for(out)
    compared = [c for c in ALL_IDS if c != "4a"]  # 4a is about NT alone: its third seed is one more NT run
    assert {c: verdicts(extra)[c] for c in compared} == dict.fromkeys(compared, HOLDS) == {c: verdicts(shared)[c] for c in compared}
    assert claim(extra, "4a").values[0].seeds == (0, 1, 2)
    for a, b in zip(shared.claims, extra.claims):
        if a.id == "4a":
            continue
        assert [(d.estimate, d.low, d.high) for d in a.differences] == [(d.estimate, d.low, d.high) for d in b.differences]
    assert "seeds not shared by every setting left out: NT 2" in claim(extra, "1a").notes
    assert claim(extra, "1a").values[0].seeds == (0, 1)


def test_different_test_images_are_not_paired(tmp_path: Path) -> None:
    runs = world(tmp_path)
    for folder in runs.glob("*at2*"):
        save_npy(folder / "records" / "test_index.npy", np.arange(N) + 1)
    report = report_for(runs)
    c = claim(report, "1a")
    assert c.verdict == UNCLEAR and c.reason.startswith("scored on different test images (test_index differs"), c.reason


def test_calibration_false_holds_at_the_demo_shape() -> None:
    """At the demo's shape (25 points, 3 seeds, 1,000 images, NT + 2 budgets), on 200 draws where nothing
    differs between settings and 100 draws of the constructed traps, every claim holds in at most 5 %."""
    shape = calibration.SHAPES["demo"]
    null = calibration.run_world(shape, "null", 200, seed=1)
    trap = calibration.run_world(shape, "trap", 100, seed=1)
    for claim_id in ALL_IDS:
        assert null[claim_id].holds / 200 <= 0.05, (claim_id, null[claim_id])
        if claim_id in calibration.TRAP_NULLS:
            assert trap[claim_id].holds / 100 <= 0.05, (claim_id, trap[claim_id])


def test_statistics_equal_direct_computations(tmp_path: Path) -> None:
    runs = world(tmp_path)
    report = report_for(runs)
    nt = claim(report, "1a").values[0]
    assert nt.label == "NT" and nt.seeds == (0, 1)
    for seed, value in zip(nt.seeds, nt.per_seed):
        p = probs_from(confidences(0, seed), LABELS)[-1].astype(np.float16).astype(np.float64)
        entropies = -(p * np.log(p)).sum(-1)
        assert value == pytest.approx(entropies.mean(), rel=1e-12)
        spread = claim(report, "1b").values[0].per_seed[nt.seeds.index(seed)]
        assert spread == pytest.approx(np.subtract(*np.percentile(entropies, [75, 25])), rel=1e-12)
    assert nt.mean == pytest.approx(np.mean(nt.per_seed))
    # Fig 2-3: the seed-averaged shares are notebook 02's (analysis.category_table) at the shown threshold
    shown = claim(report, "3b").thresholds.shown_at
    table = analysis.category_table(group_seeds(load_runs(runs)), threshold=shown)
    for v in claim(report, "3b").values:
        row = table[(table["label"] == v.label) & (table["category"] == "non-monotone")]
        assert v.mean == pytest.approx(float(row["percentage"].iloc[0]))
    # the design's shares: the zigzag points are non-monotone at every threshold of the default grid
    assert [v.mean for v in claim(report, "3b").values] == pytest.approx([100 * k / N for k in NON_MONOTONE])
    # Fig 4: 4a's fall and 4b's total decrease of NT's NEG curve, as designed
    assert claim(report, "4a").values[0].per_seed == pytest.approx((0.35, 0.35))
    assert claim(report, "4b").values[0].mean == pytest.approx(0.35)
    # Fig 5 gains are same-seed differences; 6 reads metrics.json
    assert [v.mean for v in claim(report, "5a").values] == pytest.approx([0.005, 0.03, 0.06])
    assert claim(report, "6b").values[2].per_seed == pytest.approx((0.6, 0.601))


def test_cannot_tell_with_one_seed(tmp_path: Path) -> None:
    report = report_for(world(tmp_path, seeds=(0,)))
    assert verdicts(report) == dict.fromkeys(ALL_IDS, UNCLEAR)
    assert all(c.reason.startswith("one seed") for c in report.claims), [c.reason for c in report.claims]


def test_cannot_tell_with_missing_settings(tmp_path: Path) -> None:
    report = report_for(world(tmp_path, ranks=(0, 2)))  # NT and AT ε=8/255 only
    got = verdicts(report)
    for claim_id in ("2", "3b", "3c", "4b", "5a", "6a", "6b"):  # "as ε grows" needs two AT budgets
        assert got[claim_id] == UNCLEAR and claim(report, claim_id).reason.startswith("missing settings"), claim_id
    assert {k: got[k] for k in ("1a", "1b", "3a", "4a", "5b")} == dict.fromkeys(("1a", "1b", "3a", "4a", "5b"), HOLDS)


def test_cannot_tell_without_neg_cifar_c_or_synthesized_data(tmp_path: Path) -> None:
    report = report_for(world(tmp_path / "a", neg=False, cifar_c=False))
    assert claim(report, "4a").reason == "no NEG: CIFAR-10-NEG not recorded for NT"  # 4a reads NT alone
    assert claim(report, "4b").verdict == UNCLEAR and claim(report, "4b").reason.startswith("no NEG")
    assert claim(report, "5a").verdict == UNCLEAR and claim(report, "5a").reason.startswith("no CIFAR-C evaluation")
    assert verdicts(report)["1a"] == HOLDS
    report = report_for(world(tmp_path / "b", synthetic="standin"))
    for claim_id in ("5a", "5b"):  # the statistics are there, the verdict says what they rest on
        assert claim(report, claim_id).verdict == UNCLEAR
        assert claim(report, claim_id).reason.startswith("stand-in instead of synthesized data")
        assert claim(report, claim_id).values
    report = report_for(world(tmp_path / "c", synthetic=None, dataset="cifar100"))
    assert claim(report, "4a").reason == "no NEG: CIFAR-10-NEG is a CIFAR-10 set"
    assert claim(report, "5a").reason == "missing settings: no runs with synthesized data for cifar100"


def test_one_record_point_leaves_the_categories_undecided(tmp_path: Path) -> None:
    for position in (0, 1, 2):
        method, eps = EPS[position]
        for seed in (0, 1):
            config = TrainConfig(model="small_cnn", method=method, epsilon_255=eps or 8, seed=seed, epochs=1)
            make_run(tmp_path, config, probs_from(confidences(position, seed)[-1:], LABELS), LABELS)
    report = report_for(tmp_path)
    for claim_id in ("3a", "3b", "3c"):
        assert claim(report, claim_id).verdict == UNCLEAR
        assert claim(report, claim_id).reason.startswith("missing: a setting has fewer than 2 record points")
    assert verdicts(report)["1a"] == HOLDS  # the last record point alone answers Fig 1a


def test_a_disagreeing_seed_makes_the_claim_undecided(tmp_path: Path) -> None:
    report = report_for(world(tmp_path, seeds=(0, 1, 2), robust_flip_seed=1))
    verdict, reason = claim(report, "6a").verdict, claim(report, "6a").reason
    assert verdict == UNCLEAR and reason.endswith("seed 1 orders against it"), reason
    assert verdicts(report)["6b"] == HOLDS


def test_point_category_claims_report_the_thresholds_where_they_hold(tmp_path: Path) -> None:
    runs = world(tmp_path, zigzag={0: 0.5, 1: 0.15, 2: 0.08})  # AT's swings are small: non-monotone only at low thresholds
    grid = metrics.threshold_grid(T, (0.05, 1.0))
    report = report_for(runs, threshold_range=(0.05, 1.0))
    evaluation = claim(report, "3b").thresholds
    np.testing.assert_array_equal(evaluation.grid, grid)
    # reference: the smallest total drop among AT ε=2/255's zigzag points, from its seed-averaged profile
    mean_conf = np.mean([confidences(1, s, 0.15) for s in (0, 1)], axis=0)[:, HARD[1]:HARD[1] + NON_MONOTONE[1]]
    steps = np.diff(mean_conf, axis=0)
    smallest = min(-steps[:, i][steps[:, i] < 0].sum() for i in range(steps.shape[1]))
    below = grid[grid < smallest]
    assert 0 < len(below) < len(grid)
    # while AT ε=2/255's zigzags count, NT > AT 2 > AT 8 holds (AT 8's may already be gone: 12 > 6 > 0 still holds)
    assert evaluation.ranges(HOLDS)[0] == (grid[0], below[-1])
    assert claim(report, "3b").verdict == UNCLEAR
    assert claim(report, "3b").reason.endswith(f"(it holds only at 0.05-{below[-1]:.3g}, which is no verdict)")
    # the terminal line quotes the difference at the threshold where it failed, not the one at the shown threshold
    failed_at = claim(report, "3b").reason.split(":", 1)[0]
    assert failed_at.startswith("at threshold ") and short_statistic(claim(report, "3b")) == claim(report, "3b").reason


def test_unfinished_runs_are_left_out_and_duplicate_settings_refused(tmp_path: Path) -> None:
    out = world(tmp_path / "runs", seeds=(0, 1))
    config = TrainConfig(model="small_cnn", method="at", epsilon_255=8, seed=2, epochs=4, record_per_epoch=2)
    make_run(out, config, probs_from(confidences(2, 2), LABELS), LABELS, complete=False)
    report = report_for(out)
    assert "AT ε=8/255 (cifar10): unfinished seeds [2] left out" in report.notes
    assert claim(report, "6a").values[2].seeds == (0, 1)
    other = TrainConfig(model="small_cnn", method="nt", seed=0, epochs=6, record_per_epoch=2)
    make_run(tmp_path / "more", other, probs_from(confidences(0, 0), LABELS), LABELS)
    with pytest.raises(ValueError, match=r"two sets of NT runs on cifar10/small_cnn differ in \['epochs'\]"):
        report_for([out, tmp_path / "more"])


@pytest.mark.skipif("trades" not in METHODS, reason="needs the TRADES method (AT variants)")
def test_other_methods_are_shown_beside_without_entering_verdicts(tmp_path: Path) -> None:
    out = world(tmp_path)
    for seed in (0, 1):  # TRADES with NT's records: would break every ordering if it entered
        config = TrainConfig(model="small_cnn", method="trades", epsilon_255=8, seed=seed, epochs=4, record_per_epoch=2)
        make_run(out, config, probs_from(confidences(0, seed), LABELS), LABELS, neg_probs(NEG_CURVES[0]), NEG_LABELS,
                 metrics={"clean_acc": 0.9, "robust_acc": {"8": 0.0}})
    report = report_for(out)
    assert verdicts(report) == dict.fromkeys(ALL_IDS, HOLDS)
    beside = [v for v in claim(report, "6a").values if not v.enters]
    assert [v.method for v in beside] == ["trades"] and beside[0].mean == 0.0


def test_json_cli_and_frames(tmp_path: Path) -> None:
    runs = world(tmp_path / "runs")
    out = tmp_path / "claims.json"
    result = subprocess.run([sys.executable, "-m", "atlib", "claims", str(runs), "--json", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Verdicts: holds 12" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 120  # the terminal table fits 120 columns
    assert result.stdout.splitlines()[2].startswith("1a    cifar10   holds         AT ε=2/255 − NT +")
    markdown = subprocess.run([sys.executable, "-m", "atlib", "claims", str(runs), "--markdown"], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    assert "| 3b | Fig 3 | cifar10 (small_cnn) |" in markdown.stdout
    data = json.loads(out.read_text())
    assert [c["verdict"] for c in data["claims"]] == [HOLDS] * 12
    assert data["claims"][3]["thresholds"]["holds"] == [data["claims"][3]["thresholds"]["grid"][::35]]
    report = report_for(runs)
    frame = report.frame()
    assert len(frame) == sum(len(c.values) for c in report.claims) and set(frame["verdict"]) == {HOLDS}
    assert set(report.threshold_frame()["id"]) == {"3a", "3b", "3c"}
    bad = subprocess.run([sys.executable, "-m", "atlib", "claims", str(runs), "--threshold-range", "2", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "0 <= low <= high" in bad.stderr


# ----------------------------------------------------------------------------- the metrics the report reads


def test_category_shares_equal_point_categories_at_every_threshold() -> None:
    rng = np.random.default_rng(0)
    conf = np.clip(np.cumsum(rng.normal(0.05, 0.2, size=(12, 300)), axis=0), 0, 1)
    conf[:, :40] = np.round(conf[:, :40] * 4) / 4  # quantised: drops of exactly 0.25, 0.5, ...
    acc = np.linspace(0.1, 0.9, 12)
    drops = metrics.total_confidence_drop(conf)
    thresholds = np.concatenate([[0.0, 0.25, 0.5, 1.0], rng.choice(drops, 5), [drops.max(), drops.max() + 1]])
    shares = metrics.category_shares(conf, acc, thresholds)
    for th, row in zip(thresholds, shares):
        expected = metrics.point_categories(conf, acc, th).percentages
        assert list(row) == [expected[c] for c in metrics.CATEGORIES]  # bit-identical
    with pytest.raises(ValueError, match="threshold must be a number >= 0"):
        metrics.category_shares(conf, acc, [-0.1])


def test_summarize_records_is_one_pass_of_the_separate_functions() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(7, 0.3), size=(5, 20)).astype(np.float16)
    labels = rng.integers(0, 7, 20)
    summary = metrics.summarize_records(probs, labels)
    conf, acc = metrics.learning_profiles(probs, labels)
    np.testing.assert_array_equal(summary.confidences, conf)
    np.testing.assert_array_equal(summary.accuracies, acc)
    np.testing.assert_array_equal(summary.mean_entropy, metrics.mean_entropy_over_time(probs))
    p = probs.astype(np.float64)
    direct = -(p * np.log(np.where(p > 0, p, 1))).sum(-1).mean(-1)
    np.testing.assert_allclose(summary.mean_entropy, direct, rtol=1e-12)
    np.testing.assert_array_equal(acc, (probs.argmax(-1) == labels).mean(-1))  # uint16 argmax == float16 argmax
    with pytest.raises(ValueError, match="one seed's"):
        metrics.summarize_records(probs[None], labels)


def test_default_threshold_scales_with_the_number_of_record_points() -> None:
    assert metrics.default_threshold(21) == pytest.approx(1.0)  # atlib 0.1's fixed threshold, at 21 points
    values = [metrics.default_threshold(t) for t in (2, 8, 24, 480)]
    assert values == sorted(values) and len(set(values)) == 4
    with pytest.raises(ValueError, match="at least 2 record points"):
        metrics.default_threshold(1)


def test_claims_chart_draws_the_verdicts_intervals_in_the_tables_units(tmp_path: Path) -> None:
    from atlib import plots

    report = report_for(world(tmp_path))
    frame = report.difference_frame()
    spec = plots.claims_chart(frame).to_dict()
    values = spec["datasets"][spec["data"]["name"]]
    fall = next(v for v in values if v["id"] == "4a")
    difference = claim(report, "4a").differences[0]
    assert (fall["low"], fall["high"]) == pytest.approx((100 * difference.low, 100 * difference.high))  # pp
    assert fall["panel"].endswith(": holds (pp)")
    marks = {(v["id"], v["mark"]) for v in values}
    assert ("3a", "seed-averaged profiles (sign check)") in marks and ("1a", "seed-averaged profiles (sign check)") not in marks
    assert "diamond" in json.dumps(spec) and "bar: the interval the verdict used" in json.dumps(spec)
