"""atlib.dynamics.metrics against direct computations on small hand-made sequences (NaN = not presented)."""

from __future__ import annotations

import numpy as np
import pytest

from atlib.dynamics import metrics as dm

nan = np.nan
# columns: forgotten twice; a gap is skipped, not a change; never presented; never learned; always correct;
# learned late; forgotten once across gaps
CORRECT = np.array([
    [1, 1, nan, 0, 1, 0, 1],
    [0, nan, nan, 0, 1, 1, nan],
    [1, 0, nan, 0, 1, 1, nan],
    [0, nan, nan, nan, 1, 1, 1],
    [nan, nan, nan, 0, 1, 1, 0],
])


def reference_events(column: np.ndarray) -> int:
    """Toneva et al.: count acc 1 -> 0 between consecutive presentations of one example."""
    seq = [c for c in column if not np.isnan(c)]
    return sum(1 for a, b in zip(seq, seq[1:]) if a == 1 and b == 0)


def test_forgetting_events_equal_a_loop_over_presentations():
    want = [reference_events(CORRECT[:, j]) for j in range(CORRECT.shape[1])]
    assert want == [2, 1, 0, 0, 0, 0, 1]
    assert dm.forgetting_events(CORRECT).tolist() == want
    assert dm.presentations(CORRECT).tolist() == [4, 2, 0, 4, 5, 5, 3]
    assert dm.learned(CORRECT).tolist() == [True, True, False, False, True, True, True]
    kinds = [dm.FORGETTING_KINDS[k] for k in dm.forgetting_kinds(CORRECT)]
    assert kinds == ["forgotten", "forgotten", "never presented", "never learned", "unforgettable", "unforgettable", "forgotten"]


def test_forgetting_events_on_random_sequences():
    rng = np.random.default_rng(0)
    correct = (rng.random((30, 200)) < 0.6).astype(float)
    correct[rng.random(correct.shape) < 0.3] = nan
    want = [reference_events(correct[:, j]) for j in range(correct.shape[1])]
    assert dm.forgetting_events(correct).tolist() == want


def ported_aum(logits: np.ndarray, labels: np.ndarray, presented: np.ndarray) -> np.ndarray:
    """The ``aum`` package's definition, ported (asappresearch/aum, aum/aum.py, AUMCalculator): per
    ``update`` the margin is the target logit minus the max of the logits with the target masked to -inf,
    added to a running sum and count per sample id; ``finalize`` reports sum / count."""
    sums, counts = {}, {}
    for epoch_logits, mask in zip(logits, presented):
        ids = np.flatnonzero(mask)
        target = epoch_logits[ids, labels[ids]]
        masked = epoch_logits[ids].copy()
        masked[np.arange(len(ids)), labels[ids]] = -np.inf
        for sample_id, margin in zip(ids, target - masked.max(axis=1)):
            counts[sample_id] = counts.get(sample_id, 0) + 1
            sums[sample_id] = sums.get(sample_id, 0.0) + margin
    return np.array([sums[i] / counts[i] if i in counts else nan for i in range(logits.shape[1])])


def test_aum_agrees_with_the_aum_package_definition():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(12, 40, 10)) * 3
    labels = rng.integers(0, 10, 40)
    presented = rng.random((12, 40)) < 0.7
    presented[:, 5] = False  # never seen: AUM undefined
    margin = np.where(presented, dm.logit_margin(logits, labels[None, :]), nan)
    got = dm.aum(margin)
    want = ported_aum(logits, labels, presented)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isnan(got[5]) and np.isfinite(np.delete(got, 5)).all()


def test_logit_margin_is_positive_exactly_when_argmax_is_the_label():
    logits = np.array([[2.0, 1.0, 0.5], [0.0, 3.0, 1.0], [1.0, 1.0, -2.0]])
    assert dm.logit_margin(logits, np.array([0, 0, 2])).tolist() == [1.0, -3.0, -3.0]


def test_data_map_equals_mean_and_population_std_over_presentations():
    p_true = np.array([[0.2, 0.9, nan], [nan, 0.9, nan], [0.6, 0.9, nan]])
    correct = np.array([[0, 1, nan], [nan, 1, nan], [1, 1, nan]])
    m = dm.data_map(p_true, correct)
    np.testing.assert_allclose(m.confidence[:2], [0.4, 0.9])
    np.testing.assert_allclose(m.variability[:2], [np.std([0.2, 0.6]), 0.0], atol=1e-15)
    np.testing.assert_allclose(m.correctness[:2], [0.5, 1.0])
    assert np.isnan([m.confidence[2], m.variability[2], m.correctness[2]]).all()
    rng = np.random.default_rng(2)
    p = rng.random((9, 50))
    p[rng.random(p.shape) < 0.3] = nan
    m = dm.data_map(p, (p > 0.5).astype(float) + 0 * p)
    for j in range(50):
        seq = p[:, j][~np.isnan(p[:, j])]
        if len(seq):
            assert m.confidence[j] == pytest.approx(seq.mean()) and m.variability[j] == pytest.approx(seq.std())


def test_data_map_regions_are_thirds_by_rank():
    confidence = np.array([0.9, 0.1, 0.5, 0.8, 0.2, 0.6, nan])
    variability = np.array([0.05, 0.1, 0.4, 0.1, 0.3, 0.2, nan])
    regions = dm.data_map_regions(confidence, variability)
    assert np.flatnonzero(regions["easy-to-learn"]).tolist() == [0, 3]
    assert np.flatnonzero(regions["hard-to-learn"]).tolist() == [1, 4]
    assert np.flatnonzero(regions["ambiguous"]).tolist() == [2, 4]
    assert not any(r[6] for r in regions.values())  # never presented: in no region


def test_el2n_is_the_mean_over_models_of_the_error_norm():
    probs = np.array([[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0], [0.2, 0.2, 0.6]]])
    labels = np.array([0, 1])
    per_model = np.array([[np.sqrt(0.5), 0.0], [0.0, np.sqrt(0.04 + 0.64 + 0.36)]])
    np.testing.assert_allclose(dm.el2n(probs, labels), per_model.mean(axis=0))
    np.testing.assert_allclose(dm.el2n(probs[0], labels), per_model[0])
    with pytest.raises(ValueError, match=r"labels must be \(2,\)"):
        dm.el2n(probs, np.array([0]))


def test_nearest_point_and_synthetic_scores():
    assert dm.nearest_point(np.array([0.5, 1.0, 1.5, 2.0]), 0.1, 12) == 1  # 1.2 epochs: 1.0 is 0.2 away, 1.5 is 0.3
    assert dm.nearest_point(np.array([1.0, 2.0, 3.0]), 0.1, 15) == 0  # 1.5: a tie goes to the earlier point
    with pytest.raises(ValueError, match="fraction"):
        dm.nearest_point(np.array([1.0]), 10, 100)
    s = dm.synthetic_scores(index=np.array([7, 3, 7, 7, 3]), label=np.array([1, 4, 1, 1, 4]),
                            margin=np.array([-1.0, 2.0, -2.0, 0.0, 1.0]), correct=np.array([0, 1, 0, 1, 1]))
    assert s.index.tolist() == [3, 7] and s.label.tolist() == [4, 1] and s.draws.tolist() == [2, 3]
    np.testing.assert_allclose(s.aum, [1.5, -1.0])
    np.testing.assert_allclose(s.correct, [1.0, 1 / 3])


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(epochs, examples\)"):
        dm.forgetting_events(np.zeros(5))
    with pytest.raises(ValueError, match="one shape"):
        dm.data_map(np.zeros((2, 3)), np.zeros((2, 4)))
