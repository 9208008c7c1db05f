"""atlib.dynamics.frames and charts on fake runs with chosen training statistics (tests/fakeruns.py)."""

from __future__ import annotations

import numpy as np
import pytest

from atlib import analysis, metrics
from atlib.config import TrainConfig
from atlib.dynamics import frames
from atlib import plots
from atlib.dynamics import metrics as dm
from atlib.store.runs import group_seeds, load_runs
from fakeruns import make_dynamics, make_run, random_probs

E, N, C, T = 6, 24, 10, 6  # epochs, training examples, classes, record points
PROBE = np.arange(0, N, 2)  # the probe: every second training example
TRAIN_ROWS = 100 + 3 * np.arange(N)  # rows of the full training set (a train subset)
LABELS = np.arange(N) % C


def _correct(rng: np.random.Generator, p_learn: float) -> np.ndarray:
    correct = (rng.random((E, N)) < p_learn).astype(float)
    correct[rng.random((E, N)) < 0.2] = np.nan  # not presented in that epoch
    correct[:, 0] = 1.0  # always correct: unforgettable
    correct[:, 1] = np.nan  # never presented
    correct[:, 2] = 0.0  # never learned
    return correct


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("dyn_runs")
    rng = np.random.default_rng(0)
    stats = {}
    for method, eps, seed, synthetic, clean in (("nt", 8, 0, False, False), ("nt", 8, 1, False, False),
                                                ("at", 8, 0, False, True), ("at", 8, 0, True, False)):
        config = TrainConfig(model="small_cnn", method=method, epsilon_255=eps, seed=seed, epochs=E, record_per_epoch=1,
                             train_subset=N, synthetic="/tmp/standin.npz" if synthetic else None, synthetic_tag="standin")
        run_dir = make_run(out, config, random_probs(rng, T, 20, C), np.arange(20) % C,
                           probe_probs=random_probs(rng, T, len(PROBE), C, sharpen=0.5), probe_labels=LABELS[PROBE],
                           probe_index=PROBE, train_index=TRAIN_ROWS)
        correct = _correct(rng, 0.5 if method == "at" else 0.8)
        p_true = np.where(np.isnan(correct), np.nan, rng.random((E, N)))
        margin = np.where(np.isnan(correct), np.nan, rng.normal(size=(E, N)))
        clean_stats = None
        if clean:
            c2 = np.where(np.isnan(correct), np.nan, 1.0)
            clean_stats = {"correct": c2, "p_true": np.where(np.isnan(c2), np.nan, 0.9), "margin": c2 * 2, "loss": c2 * 0.1}
        synth = None
        if synthetic:
            synth = {"step": np.arange(9), "index": np.array([5, 1, 5, 2, 1, 5, 8, 2, 2]), "label": np.array([3, 0, 3, 7, 0, 3, 1, 7, 7]),
                     "loss": np.ones(9), "margin": np.array([-2.0, 1.0, -4.0, 0.5, 3.0, 0.0, 2.0, 0.5, -0.5]),
                     "correct": np.array([0, 1, 0, 1, 1, 0, 1, 1, 0])}
        make_dynamics(run_dir, LABELS, correct, p_true=p_true, margin=margin, clean=clean_stats, synthetic=synth,
                      train_index=TRAIN_ROWS)
        stats[(method, seed, synthetic)] = {"correct": correct, "p_true": p_true, "margin": margin, "clean": clean_stats}
    groups = group_seeds(load_runs(out))
    return {"out": out, "groups": groups, "stats": stats}


def _group(runs: dict, label: str):
    return next(g for g in runs["groups"] if g.label == label)


def test_dynamics_groups_and_the_clear_error_without_any(runs, tmp_path):
    kept, notes = frames.dynamics_groups(runs["groups"])
    assert [g.label for g in kept] == ["NT", "AT ε=8/255", "AT ε=8/255 + standin"]
    assert notes == ["AT ε=8/255 + standin: no clean statistics beside the adversarial ones (record_train_clean=False)"]
    bare = make_run(tmp_path, TrainConfig(model="small_cnn", method="nt"), random_probs(np.random.default_rng(0), 2, 4, C),
                    np.arange(4))
    with pytest.raises(ValueError, match="record_train=True"):
        frames.dynamics_groups(group_seeds(load_runs(bare)))
    probe, notes = frames.probe_groups(group_seeds(load_runs(bare)))
    assert probe == [] and "train_probe_size" in notes[0]


def test_forgetting_frames_equal_direct_counts(runs):
    hist = frames.forgetting_histogram(runs["groups"], max_events=2)
    nt = hist[(hist["label"] == "NT")]
    assert list(nt["bucket"]) == ["0", "1", "2+", "never learned"] and set(nt["input"]) == {"clean"}
    shares = []
    for seed in (0, 1):
        correct = runs["stats"][("nt", seed, False)]["correct"]
        seen = [j for j in range(N) if np.isfinite(correct[:, j]).any()]
        events = [sum(1 for a, b in zip(s, s[1:]) if a == 1 and b == 0)
                  for s in ([c for c in correct[:, j] if np.isfinite(c)] for j in seen)]
        learned = [(correct[:, j] == 1).any() for j in seen]
        buckets = [3 if not ok else min(k, 2) for k, ok in zip(events, learned)]
        shares.append(np.bincount(buckets, minlength=4) / len(seen))
    np.testing.assert_allclose(nt["mean"], np.mean(shares, axis=0))
    np.testing.assert_allclose(nt["std"], np.std(shares, axis=0, ddof=1))
    at = hist[hist["label"] == "AT ε=8/255"]
    assert set(at["input"]) == {"adversarial", frames.CLEAN_INPUT}
    clean = at[at["clean"]]  # the clean forward is correct at every presentation: all 23 presented examples unforgettable
    assert clean["mean"].tolist() == [1.0, 0.0, 0.0, 0.0]

    summary = frames.forgetting_summary(runs["groups"])
    row = summary[(summary["label"] == "NT") & (summary["metric"] == "unforgettable")]
    assert float(row["mean"].iloc[0]) == pytest.approx(np.mean([s[0] for s in shares]))


@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # the never-presented example, in the direct computation
def test_data_map_equals_direct_cartography(runs):
    df = frames.data_map(runs["groups"], sample=None)
    nt = df[df["label"] == "NT"].sort_values("column")
    direct = [dm.data_map(runs["stats"][("nt", s, False)]["p_true"], runs["stats"][("nt", s, False)]["correct"]) for s in (0, 1)]
    for key in ("confidence", "variability", "correctness"):
        want = np.nanmean(np.stack([getattr(m, key) for m in direct]), axis=0)
        np.testing.assert_allclose(nt[key].to_numpy(), want, rtol=2e-3)  # the store holds float16
    assert np.isnan(nt["confidence"].iloc[1])  # never presented
    assert nt[["easy", "ambiguous", "hard"]].sum().tolist() == [8, 8, 8]  # thirds of the 23 presented examples (round(23/3))
    assert (nt.loc[nt["easy"], "confidence"] >= nt["easy_from"].iloc[0]).all()
    assert (nt.loc[~nt["easy"], "confidence"].dropna() <= nt["easy_from"].iloc[0]).all()
    sides = df[df["label"] == "AT ε=8/255"].groupby("input")["confidence"].mean()
    assert sides[frames.CLEAN_INPUT] == pytest.approx(0.9, abs=1e-3)
    sampled = frames.data_map(runs["groups"], sample=5)
    assert sampled.groupby(["label", "input"]).size().eq(5).all()
    assert sampled.groupby(["label", "input"])["column"].apply(tuple).nunique() == 1  # the same examples everywhere


def test_aum_and_el2n_distributions(runs):
    aum = frames.aum_distribution(runs["groups"], bins=8)
    for _, part in aum.groupby(["label", "input"]):
        widths = part["bin_end"] - part["bin_start"]
        assert float((part["density"] * widths).sum()) == pytest.approx(1.0)
    assert aum.groupby(["label", "input"])["bin_start"].apply(tuple).nunique() == 1  # one set of edges per dataset
    el2n = frames.el2n_distribution(runs["groups"], bins=8)
    assert set(el2n["epoch"]) == {1.0}  # 10% of 6 epochs is 0.6: the first record point (epoch 1)
    group = _group(runs, "NT")
    want = np.mean([dm.el2n(np.asarray(r.probs("probe")[0], np.float64), LABELS[PROBE]) for r in group.runs], axis=0)
    np.testing.assert_allclose(frames.el2n_scores(group), want)


def test_probe_scores_crosstab_and_correlations(runs):
    group = _group(runs, "NT")
    scores = frames.probe_scores(group)
    conf, acc = analysis.profiles(group, "probe")
    assert scores["category"].tolist() == metrics.point_categories(conf, acc).names().tolist()
    assert scores["column"].tolist() == PROBE.tolist()
    def toneva(correct: np.ndarray) -> np.ndarray:  # Toneva et al.: a never-learned example counts its presentations
        correct = correct[:, PROBE]
        learned = (np.nan_to_num(correct) == 1).any(axis=0)
        return np.where(learned, dm.forgetting_events(correct), np.isfinite(correct).sum(axis=0))

    events = np.mean([toneva(runs["stats"][("nt", s, False)]["correct"]) for s in (0, 1)], axis=0)
    ok = np.isfinite(scores["forgetting"].to_numpy())
    np.testing.assert_allclose(scores["forgetting"].to_numpy()[ok], events[ok])
    assert scores.loc[1, "forgetting"] == events[1] > 0  # never learned: ranked most forgettable, not unforgettable
    stored = [runs["stats"][("nt", s, False)]["margin"].astype(np.float16).astype(np.float64) for s in (0, 1)]  # as the store holds it
    np.testing.assert_allclose(scores["aum"], np.mean([dm.aum(m)[PROBE] for m in stored], axis=0), rtol=1e-6)
    assert scores.loc[1, "never_learned"] == 1.0  # probe row 1 is training column 2: never learned

    table = frames.probe_crosstab([group])
    assert table["count"].sum() == 2 * len(PROBE)  # every probe example presented in both seeds
    for category, part in table.groupby("category"):
        if part["count"].sum():
            assert part["percentage"].sum() == pytest.approx(100.0)
    assert int(table[table["bucket"] == "never learned"]["count"].sum()) == 2  # column 2 in both seeds

    corr = frames.probe_correlations([group]).set_index(["x", "y"])
    a, b = scores["forgetting"], scores["aum"]
    keep = a.notna() & b.notna()
    want = a[keep].rank().corr(b[keep].rank())  # Spearman: Pearson of average ranks
    assert corr.loc[("forgetting", "aum"), "spearman"] == pytest.approx(want)
    assert corr.loc[("forgetting", "aum"), "n"] == keep.sum()


def test_suspicious_synthetic_aggregates_draws_over_seeds(runs):
    group = _group(runs, "AT ε=8/255 + standin")
    df = frames.suspicious_synthetic(group, count=3)
    # image 5: margins -2, -4, 0 -> -2; image 2: 0.5, 0.5, -0.5 -> 1/6; image 8: 2; image 1: 1, 3 -> 2
    assert df["index"].tolist() == [5, 2, 1]
    np.testing.assert_allclose(df["aum"], [-2.0, 1 / 6, 2.0])
    assert df["draws"].tolist() == [3, 3, 2] and df["class_name"].tolist() == ["cat", "horse", "airplane"]
    np.testing.assert_allclose(df["correct"], [0.0, 2 / 3, 1.0])
    with pytest.raises(ValueError, match="no synthesized rows"):
        frames.suspicious_synthetic(_group(runs, "NT"))


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
def test_presentation_history_and_probe_rows(runs):
    group = _group(runs, "NT")
    history = frames.presentation_history(group, column=4)
    loss = history[history["field"] == "loss"]
    assert loss["epoch"].tolist() == list(range(1, E + 1))
    direct = np.stack([1.6 - 1.4 * runs["stats"][("nt", s, False)]["correct"][:, 4] for s in (0, 1)])  # make_dynamics' loss
    want = np.nanmean(direct, axis=0)
    np.testing.assert_allclose(loss["value"], want.astype(np.float16), rtol=1e-3)
    assert loss["seeds"].tolist() == np.isfinite(direct).sum(axis=0).tolist()
    assert analysis.split_rows(group, "probe").tolist() == TRAIN_ROWS[PROBE].tolist()


def test_charts_build_and_validate(runs):
    groups = runs["groups"]
    training = lambda df: df[~df["clean"]]  # noqa: E731
    built = [
        plots.forgetting_histogram_chart(training(frames.forgetting_histogram(groups))),
        plots.forgetting_summary_chart(training(frames.forgetting_summary(groups))),
        plots.data_map_chart(frames.data_map(groups, sample=10)),
        plots.score_distribution_chart(frames.aum_distribution(groups), "aum"),
        plots.score_distribution_chart(frames.el2n_distribution(groups), "el2n"),
        plots.probe_crosstab_chart(frames.probe_crosstab(groups)),
        plots.probe_correlation_chart(frames.probe_correlations(groups)),
    ]
    suspicious = frames.suspicious_synthetic(_group(runs, "AT ε=8/255 + standin"), count=3)
    built.append(plots.synthetic_gallery_chart(suspicious, np.zeros((3, 32, 32, 3), np.uint8), "lowest AUM"))
    for chart in built:
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert spec["$schema"]
    with pytest.raises(ValueError, match="filter the forgetting_histogram frame"):
        plots.forgetting_histogram_chart(frames.forgetting_histogram(groups))
    with pytest.raises(ValueError, match="one image per row"):
        plots.synthetic_gallery_chart(suspicious, np.zeros((2, 32, 32, 3), np.uint8), "x")
