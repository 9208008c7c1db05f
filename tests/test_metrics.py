"""Metrics against known values and independent references, notably Appendix B's own function."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from paper_reference import point_category

from atlib import metrics
from atlib.metrics import (
    CATEGORIES,
    accuracy_over_time,
    entropy,
    histogram,
    learning_profiles,
    mean_entropy_over_time,
    point_categories,
    total_confidence_drop,
)


def _reference_categories(confidences: np.ndarray, accuracies: np.ndarray, threshold: float) -> np.ndarray:
    """Run Appendix B point by point. Each point's avg_y_hats is a (T, 3) table whose column 1 is its
    profile, so the reference reads exactly the confidences given to the vectorised version."""
    out = []
    for conf in confidences.T:
        table = np.stack([1.0 - conf, conf, np.zeros_like(conf)], axis=1)
        out.append(point_category(accuracies, table, 1, threshold))
    return np.array(out)


def _reference_drop(confidences: np.ndarray) -> np.ndarray:
    drops = []
    for conf in confidences.T:
        d = np.diff(conf)
        drops.append(np.sum(np.abs(d[d < 0])))
    return np.array(drops)


def _profiles(rng: np.random.Generator, t: int, n: int) -> np.ndarray:
    """(T, N) profiles of every kind: smooth monotone, noisy trend, spiky, quantised (exact ties), constant."""
    k = n // 6
    up = np.cumsum(rng.random((t, k)), axis=0)
    smooth = up / up[-1] * rng.random(k)  # non-decreasing, drop exactly 0
    trend = np.clip(np.linspace(0, 1, t)[:, None] * rng.random(k) + 0.05 * rng.standard_normal((t, k)), 0, 1)
    spiky = rng.random((t, k))
    quantised = rng.integers(0, 9, size=(t, k)) / 8  # sums hit exact ties between easy and hard
    steps = rng.integers(0, 5, size=(t, k)) / 4
    constant = np.broadcast_to(rng.integers(0, 5, size=n - 5 * k) / 4, (t, n - 5 * k))
    return np.concatenate([smooth, trend, spiky, quantised, steps, constant], axis=1)


@pytest.mark.parametrize("t", [2, 3, 7, 8, 9, 16, 17, 40, 120, 130, 300])
def test_point_categories_equal_appendix_b_on_random_profiles(t: int) -> None:
    rng = np.random.default_rng(t)
    conf = _profiles(rng, t, 600)
    acc = np.sort(rng.random(t))
    ref_drop = _reference_drop(conf)
    assert np.array_equal(total_confidence_drop(conf), ref_drop)  # bit-identical, not just close
    # Thresholds include values equal to some points' exact drops, where the strict ">" decides.
    thresholds = [0.0, 0.25, 0.5, 1.0, 2.0, ref_drop[rng.integers(0, 600)], np.median(ref_drop)]
    for threshold in thresholds:
        result = point_categories(conf, acc, threshold)
        assert np.array_equal(result.names(), _reference_categories(conf, acc, threshold)), threshold
        assert np.array_equal(result.total_drop, ref_drop)


def test_point_categories_when_profiles_equal_accuracies() -> None:
    """Profiles equal (or nearly equal) to the accuracy curve are monotone, with exact zero distance."""
    rng = np.random.default_rng(0)
    t = 50
    acc = np.sort(rng.random(t))
    conf = np.repeat(acc[:, None], 5, axis=1)
    conf[:, 1] = np.clip(acc + 1e-3, 0, 1)
    result = point_categories(conf, acc)
    assert result.threshold == metrics.default_threshold(t)  # None: the default for T record points
    assert np.array_equal(result.names(), _reference_categories(conf, acc, result.threshold))
    assert set(result.names()) == {"monotone"}
    assert np.all(result.distances[[0, 2, 3, 4], 2] == 0)


def test_point_categories_tie_order_and_strict_threshold() -> None:
    t = 4
    acc = np.array([0.0, 0.0, 1.0, 1.0])
    conf = np.stack(
        [
            np.full(t, 0.5),  # easy == hard == monotone == 2.0: first in dict order wins -> easy
            np.full(t, 1.0),  # easy 0
            np.full(t, 0.0),  # hard 0
            np.array([0.0, 0.25, 0.5, 0.25]),  # drop exactly 0.25 == threshold: not non-monotone
            np.array([0.0, 0.5, 0.25, 0.0]),  # drop 0.5 > threshold -> non-monotone
        ],
        axis=1,
    )
    acc_for_hard_tie = np.zeros(t)  # hard == monotone == 0 -> hard
    result = point_categories(conf, acc, threshold=0.25)
    assert list(result.names()) == ["easy", "easy", "hard", "hard", "non-monotone"]
    assert list(result.names()) == list(_reference_categories(conf, acc, 0.25))
    assert point_categories(conf[:, [2]], acc_for_hard_tie).names()[0] == "hard"
    assert _reference_categories(conf[:, [2]], acc_for_hard_tie, metrics.default_threshold(t))[0] == "hard"
    assert result.distances[0].tolist() == [2.0, 2.0, 2.0]
    assert result.total_drop.tolist() == [0.0, 0.0, 0.0, 0.25, 0.5]


def test_category_result_bookkeeping() -> None:
    rng = np.random.default_rng(1)
    conf = _profiles(rng, 30, 333)
    result = point_categories(conf, np.sort(rng.random(30)), threshold=1.5)
    assert result.categories.dtype == np.int8 and result.categories.shape == (333,)
    assert list(result.counts) == list(CATEGORIES) == list(result.percentages)
    assert sum(result.counts.values()) == 333
    assert sum(result.percentages.values()) == pytest.approx(100.0)
    for i, name in enumerate(CATEGORIES):
        assert result.counts[name] == int(np.sum(result.categories == i))
    assert result.distances.shape == (333, 3) and result.threshold == 1.5
    assert all(v > 0 for v in result.counts.values())  # the generator covers every category


def test_point_categories_validation() -> None:
    conf = np.full((5, 3), 0.5)
    acc = np.full(5, 0.5)
    with pytest.raises(ValueError, match="T >= 2"):
        point_categories(conf[:1], acc[:1])
    with pytest.raises(ValueError, match=r"\(T, N\)"):
        point_categories(conf[0], acc)
    with pytest.raises(ValueError, match="accuracies must have shape"):
        point_categories(conf, acc[:4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        point_categories(conf * 3, acc)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        point_categories(conf, np.full(5, np.nan))
    with pytest.raises(ValueError, match="threshold"):
        point_categories(conf, acc, threshold=-1)


def test_entropy_known_values() -> None:
    for c in (2, 10, 100):
        assert entropy(np.full(c, 1 / c)) == pytest.approx(np.log(c), rel=1e-12)
    one_hot = np.eye(5)
    h = entropy(one_hot)
    assert h.shape == (5,) and np.all(h == 0) and not np.any(np.signbit(h))
    p = np.array([0.5, 0.5, 0.0, 0.0])
    assert entropy(p) == pytest.approx(np.log(2))
    assert entropy(np.array([[0.25, 0.75], [0.5, 0.5]]).T, axis=0) == pytest.approx(
        [-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), np.log(2)]
    )


def test_entropy_of_float16_is_computed_in_float64() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=50).astype(np.float16)
    h = entropy(p)
    assert h.dtype == np.float64
    p64 = p.astype(np.float64)
    np.testing.assert_allclose(h, -(p64 * np.log(p64)).sum(axis=1), rtol=1e-12)


def _random_probs(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float16) -> np.ndarray:
    return rng.dirichlet(np.full(shape[-1], 0.3), size=shape[:-1]).astype(dtype)


def test_learning_profiles_match_naive_loops() -> None:
    rng = np.random.default_rng(2)
    s, t, n, c = 3, 5, 11, 4
    probs = _random_probs(rng, (s, t, n, c))
    labels = rng.integers(0, c, size=n)
    conf_ref = np.zeros((t, n))
    acc_ref = np.zeros(t)
    for ti in range(t):
        for ni in range(n):
            conf_ref[ti, ni] = sum(float(probs[si, ti, ni, labels[ni]]) for si in range(s)) / s
        for si in range(s):
            acc_ref[ti] += sum(int(np.argmax(probs[si, ti, ni]) == labels[ni]) for ni in range(n)) / n / s
    conf, acc = learning_profiles(probs, labels)
    np.testing.assert_allclose(conf, conf_ref, rtol=1e-12)
    np.testing.assert_allclose(acc, acc_ref, rtol=1e-12)
    # A strided view (no contiguous copy) gives the same answer.
    padded = np.zeros((s, t, n, c + 1), dtype=probs.dtype)
    padded[..., :c] = probs
    conf_strided, acc_strided = learning_profiles(padded[..., :c], labels)
    np.testing.assert_array_equal(conf_strided, conf)
    np.testing.assert_array_equal(acc_strided, acc)
    # A single seed without the seed axis is that seed's profile.
    conf1, acc1 = learning_profiles(probs[1], labels)
    np.testing.assert_allclose(conf1, probs[1, :, np.arange(n), labels].T.astype(np.float64))
    np.testing.assert_allclose(acc1, accuracy_over_time(probs[1], labels))


def test_learning_profiles_read_a_float16_memmap(tmp_path) -> None:
    rng = np.random.default_rng(3)
    probs = _random_probs(rng, (2, 4, 9, 3))
    labels = rng.integers(0, 3, size=9)
    path = tmp_path / "probs.npy"
    np.save(path, probs)
    mm = np.load(path, mmap_mode="r")
    conf, acc = learning_profiles(mm, labels)
    ref_conf, ref_acc = learning_profiles(np.asarray(probs), labels)
    np.testing.assert_array_equal(conf, ref_conf)
    np.testing.assert_array_equal(acc, ref_acc)


def test_accuracy_and_mean_entropy_over_time() -> None:
    rng = np.random.default_rng(4)
    probs = _random_probs(rng, (2, 6, 13, 5), dtype=np.float32)
    labels = rng.integers(0, 5, size=13)
    acc = accuracy_over_time(probs, labels)
    assert acc.shape == (2, 6)
    np.testing.assert_allclose(acc, (probs.argmax(-1) == labels).mean(-1))
    np.testing.assert_allclose(accuracy_over_time(probs[0], labels), acc[0])
    ent = mean_entropy_over_time(probs)
    assert ent.shape == (2, 6)
    np.testing.assert_allclose(ent, entropy(probs).mean(-1), rtol=1e-12)
    # float16 records (read through bit-pattern tables) agree with their float64 values.
    half = probs.astype(np.float16)
    np.testing.assert_allclose(mean_entropy_over_time(half), entropy(half.astype(np.float64)).mean(-1), rtol=1e-12)
    np.testing.assert_array_equal(accuracy_over_time(half, labels), accuracy_over_time(half.astype(np.float64), labels))
    # Uniform predictions have entropy log C at every checkpoint.
    np.testing.assert_allclose(mean_entropy_over_time(np.full((3, 4, 5), 0.2)), np.log(5), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_accuracy_ties_go_to_the_first_maximum_as_argmax(dtype) -> None:
    # Point 0 ties classes 1 and 2 with label 2; point 1 ties classes 0 and 3 with label 0.
    probs = np.array([[[0.1, 0.4, 0.4, 0.1], [0.3, 0.2, 0.2, 0.3]]], dtype=dtype)
    summary = metrics.summarize_records(probs, np.array([2, 0]))
    np.testing.assert_array_equal(summary.accuracies, [0.5])
    np.testing.assert_array_equal(summary.confidences, probs[:, [0, 1], [2, 0]].astype(np.float64))


def test_probability_and_label_validation() -> None:
    probs = np.full((3, 4, 5), 0.2)
    with pytest.raises(ValueError, match=r"\(T, N, C\)"):
        learning_profiles(probs[0], np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="labels must be an integer array"):
        learning_profiles(probs, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\)"):
        accuracy_over_time(probs, np.full(4, 5))


def test_histogram_is_a_density_with_edges_first() -> None:
    values = np.array([0.1, 0.2, 0.2, 0.9])
    edges, heights = histogram(values, bins=2, range=(0.0, 1.0))
    np.testing.assert_allclose(edges, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(heights, [1.5, 0.5])  # 3/4 and 1/4 of the mass over widths of 0.5
    _, counts = histogram(values, bins=2, range=(0.0, 1.0), density=False)
    np.testing.assert_array_equal(counts, [3, 1])
    with pytest.raises(ValueError, match="NaN"):
        histogram(np.array([0.1, np.nan]), bins=2)


def test_metrics_does_not_import_torch() -> None:
    import subprocess

    code = "import sys, atlib.metrics; assert 'torch' not in sys.modules, 'atlib.metrics imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(metrics.__file__).rsplit("/atlib/", 1)[0])
