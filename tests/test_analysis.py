"""atlib.analysis: every figure's DataFrame against independent NumPy computations on runs with known records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from atlib import analysis, metrics
from atlib.config import TrainConfig
from atlib.store.runs import group_seeds, load_runs
from fakeruns import make_run, random_probs

REPO = Path(__file__).resolve().parents[1]
T, N, M, C = 5, 30, 8, 10  # record points, test points, NEG points, classes
SYNTH = "/nowhere/synth.npz"


def _cifar_c(seed_paper: float, pooled: dict[str, float], kind: str = "generated") -> dict:
    return {"source": {"kind": kind, "root": "/c"}, "pooled": pooled, "accuracy": {k: [v] * 5 for k, v in pooled.items()},
            "seed_paper_mean": seed_paper, "robustbench_mean": seed_paper + 0.05, "missing": []}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A runs folder: CIFAR-10 NT (2 seeds), AT ε=8 (3 seeds, one unfinished), AT ε=8 + synth (1 seed), CIFAR-100 NT
    (2 seeds, uniform predictions, no NEG). Returns the groups and the float32 arrays the records were made from."""
    out = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    labels, neg_labels = rng.integers(0, C, N), rng.integers(0, C, M)
    raw: dict[str, list] = {}
    specs = [
        ("nt", dict(method="nt"), [0, 1]),
        ("at8", dict(method="at", epsilon_255=8.0), [0, 1, 2]),
        ("at8s", dict(method="at", epsilon_255=8.0, synthetic=SYNTH), [0]),
    ]
    for key, fields, seeds in specs:
        for s in seeds:
            probs, neg = random_probs(rng, T, N, C, sharpen=0.5), random_probs(rng, T, M, C)
            raw.setdefault(key, []).append((probs, neg))
            config = TrainConfig(seed=s, epochs=T, record_per_epoch=1, **fields)
            finished = not (key == "at8" and s == 2)
            metrics_json = {"clean_acc": 0.8 + 0.1 * s, "neg_acc": 0.3, "robust_acc": {"8": 0.1 * (s + 1), "4": 0.2 * (s + 1)}}
            if key != "at8s":
                metrics_json["cifar_c"] = _cifar_c(0.5 + 0.2 * s, {"fog": 0.6 + 0.1 * s, "gaussian_noise": 0.3, "saturate": 0.9})
            make_run(out, config, probs, labels, neg, neg_labels, metrics=metrics_json, complete=finished)
    uniform = np.full((T, 6, 100), 0.01, dtype=np.float32)
    for s in (0, 1):
        make_run(out, TrainConfig(dataset="cifar100", method="nt", seed=s, epochs=T), uniform, np.arange(6))
    groups = group_seeds(load_runs(out))
    by_key = dict(zip(["nt", "at8", "at8s", "c100"], groups))
    return {"groups": groups, "by_key": by_key, "raw": raw, "labels": labels, "neg_labels": neg_labels, "out": out}


def f16(a: np.ndarray) -> np.ndarray:
    """What the records hold: float16 probabilities, read back as float64."""
    return a.astype(np.float16).astype(np.float64)


def entropy_ref(p: np.ndarray) -> np.ndarray:
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(-1)


def seed_mean_std(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])
    return values.mean(axis=0), std


def paper_category(avg_accuracies: np.ndarray, confidences: np.ndarray, threshold: float) -> str:
    """Appendix B's per-point rule, point by point, as the test's reference."""
    drop = np.diff(confidences)
    if np.sum(np.abs(drop[drop < 0])) > threshold:
        return "non-monotone"
    distances = {"easy": (1 - confidences).sum(), "hard": confidences.sum(), "monotone": np.abs(confidences - avg_accuracies).sum()}
    return min(distances, key=distances.get)


def reference_categories(store: dict, key: str, threshold: float) -> np.ndarray:
    labels = store["labels"]
    probs = np.stack([f16(p) for p, _ in store["raw"][key]])  # (S, T, N, C)
    conf = probs[:, :, np.arange(N), labels].mean(axis=0)  # (T, N)
    acc = (probs.argmax(-1) == labels).mean(axis=(0, 2))
    return np.array([paper_category(acc, conf[:, i], threshold) for i in range(N)])


# ----------------------------------------------------------------------------- ids, seeds, order


def test_groups_carry_identifying_columns_in_paper_order(store: dict) -> None:
    df = analysis.mean_entropy_curves(store["groups"])
    ids = df.drop_duplicates(["label", "dataset"])[list(analysis.ID_COLUMNS)]
    assert list(ids["label"]) == ["NT", "AT ε=8/255", "AT ε=8/255 + synth", "NT"]
    assert list(ids["dataset"]) == ["cifar10"] * 3 + ["cifar100"]
    assert list(ids["method"]) == ["nt", "at", "at", "nt"]
    assert list(ids["epsilon_255"]) == [0.0, 8.0, 8.0, 0.0]
    assert list(ids["synthetic"]) == [False, False, True, False]
    assert list(ids["data"]) == ["original", "original", "synth", "original"]
    assert list(ids["n_seeds"]) == [2, 3, 1, 2]


def test_seed_stats_ignores_missing_seeds_and_gives_zero_std_for_one() -> None:
    values = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan], [5.0, np.nan, np.nan]])
    mean, std, n = analysis.seed_stats(values)
    np.testing.assert_allclose(mean[:2], [3.0, 2.0])
    assert np.isnan(mean[2])
    np.testing.assert_allclose(std, [2.0, 0.0, 0.0])  # sample std of 1, 3, 5 is 2
    np.testing.assert_array_equal(n, [3, 1, 0])


# ----------------------------------------------------------------------------- entropy (Fig 1)


def test_mean_entropy_of_uniform_predictions_is_log_c(store: dict) -> None:
    df = analysis.mean_entropy_curves([store["by_key"]["c100"]])
    assert len(df) == T
    np.testing.assert_allclose(df["mean"], np.log(100), atol=1e-3)  # float16 stores 0.01 as 0.010002
    np.testing.assert_array_equal(df["std"], 0.0)
    np.testing.assert_allclose(df["epoch"], np.arange(1, T + 1))


def test_mean_entropy_curves_match_numpy(store: dict) -> None:
    df = analysis.mean_entropy_curves(store["groups"])
    for key in ("nt", "at8", "at8s"):
        label = store["by_key"][key].label
        per_seed = np.stack([entropy_ref(f16(p)).mean(axis=-1) for p, _ in store["raw"][key]])
        mean, std = seed_mean_std(per_seed)
        rows = df[(df["label"] == label) & (df["dataset"] == "cifar10")]
        np.testing.assert_allclose(rows["mean"], mean, rtol=1e-10)
        np.testing.assert_allclose(rows["std"], std, rtol=1e-8, atol=1e-12)
    assert (df[df["label"] == "AT ε=8/255 + synth"]["std"] == 0).all()


def test_entropy_distribution_is_a_density_of_the_pooled_entropies(store: dict) -> None:
    df = analysis.entropy_distribution(store["groups"], point=2, bins=20)
    rows = df[df["label"] == "AT ε=8/255"]
    width = rows["bin_end"] - rows["bin_start"]
    assert len(rows) == 20 and rows["bin_start"].iloc[0] == 0 and np.isclose(rows["bin_end"].iloc[-1], np.log(C))
    assert np.isclose((rows["density"] * width).sum(), 1.0)
    pooled = np.concatenate([entropy_ref(f16(p[2])) for p, _ in store["raw"]["at8"]])
    expected, _ = np.histogram(pooled, bins=np.linspace(0, np.log(C), 21), density=True)
    np.testing.assert_allclose(rows["density"], expected, rtol=1e-9)
    assert (rows["epoch"] == 3.0).all()
    # uniform predictions: all mass in the last bin (float16 rounding past log C is clipped, not lost)
    c100 = df[df["dataset"] == "cifar100"]
    assert np.isclose(c100["density"].iloc[-1] * (c100["bin_end"] - c100["bin_start"]).iloc[-1], 1.0)
    assert (c100["density"].iloc[:-1] == 0).all()


def test_entropy_distribution_rejects_a_point_not_recorded(store: dict) -> None:
    with pytest.raises(ValueError, match="record point 5 out of range"):
        analysis.entropy_distribution(store["groups"], point=T)
    last = analysis.entropy_distribution(store["groups"], point=-1)
    assert (last["epoch"] == T).all()


# ----------------------------------------------------------------------------- point categories (Fig 2, 3, 6)


def test_profiles_equal_metrics_on_the_stacked_seeds_without_stacking(store: dict) -> None:
    group = store["by_key"]["at8"]
    conf, acc = analysis.profiles(group)
    ref_conf, ref_acc = metrics.learning_profiles(group.probs("test"), group.labels("test"))
    np.testing.assert_array_equal(conf, ref_conf)
    np.testing.assert_array_equal(acc, ref_acc)
    conf[:] = -1  # callers get copies: the cache is not corrupted
    assert (analysis.profiles(group)[0] >= 0).all()


def test_category_table_matches_appendix_b_on_seed_averaged_profiles(store: dict) -> None:
    df = analysis.category_table(store["groups"], threshold=0.6)
    assert list(df[df["label"] == "NT"]["category"].iloc[:4]) == list(metrics.CATEGORIES)
    for key in ("nt", "at8", "at8s"):
        rows = df[(df["label"] == store["by_key"][key].label) & (df["dataset"] == "cifar10")]
        expected = reference_categories(store, key, 0.6)
        assert list(rows["count"]) == [int((expected == c).sum()) for c in metrics.CATEGORIES]
        np.testing.assert_allclose(rows["percentage"], 100 * rows["count"] / N)
        assert np.isclose(rows["percentage"].sum(), 100.0)
        assert (rows["threshold"] == 0.6).all()
    assert df.groupby(["label", "dataset"])["percentage"].sum().round(9).eq(100).all()


def test_threshold_sweep_matches_reference_and_moves_points_out_of_non_monotone(store: dict) -> None:
    thresholds = [0.0, 0.3, 1.0, 100.0]
    df = analysis.threshold_sweep(store["by_key"]["nt"], thresholds)
    non_mono = df[df["category"] == "non-monotone"].set_index("threshold")["percentage"]
    for th in thresholds:
        expected = reference_categories(store, "nt", th)
        assert non_mono[th] == pytest.approx(100 * (expected == "non-monotone").mean())
        counts = df[df["threshold"] == th]["count"].tolist()
        assert counts == [int((expected == c).sum()) for c in metrics.CATEGORIES]
    assert non_mono.is_monotonic_decreasing and non_mono[100.0] == 0
    # By default: 0.25-2 times the group's default threshold, which the frame carries for the chart's rule.
    group = store["by_key"]["nt"]
    default = analysis.threshold_sweep(group)
    scale = metrics.default_threshold(group.num_points)
    np.testing.assert_allclose(default["threshold"].unique()[[0, -1]], [0.25 * scale, 2 * scale])
    assert default["threshold"].nunique() == metrics.THRESHOLD_STEPS and (default["default"] == scale).all()


def test_category_examples_pick_members_of_each_category(store: dict) -> None:
    group = store["by_key"]["nt"]
    expected = reference_categories(store, "nt", metrics.default_threshold(store["by_key"]["nt"].num_points))
    picks = analysis.category_examples(group, per_category=3, seed=1)
    assert list(picks.columns[:4]) == ["index", "category", "label", "total_drop"]
    for category, rows in picks.groupby("category"):
        assert len(rows) == min(3, (expected == category).sum())
        assert (expected[rows["index"]] == category).all()
    np.testing.assert_array_equal(picks["label"], store["labels"][picks["index"]])
    assert list(picks["class_name"]) == [analysis.dataset_class_names("cifar10", C)[y] for y in picks["label"]]
    pd.testing.assert_frame_equal(picks, analysis.category_examples(group, per_category=3, seed=1))


def test_learning_profile_averages_one_example_over_seeds(store: dict) -> None:
    group, index = store["by_key"]["at8"], 7
    df = analysis.learning_profile(group, index)
    assert len(df) == T * C
    expected = np.mean([f16(p[:, index, :]) for p, _ in store["raw"]["at8"]], axis=0)
    np.testing.assert_allclose(df["probability"].to_numpy().reshape(T, C), expected, rtol=1e-12)
    true = store["labels"][index]
    assert (df[df["is_true"]]["class_index"] == true).all() and df["is_true"].sum() == T
    assert df[df["is_true"]]["class_name"].iloc[0] == analysis.dataset_class_names("cifar10", C)[true]
    test_acc = np.mean([(p.argmax(-1) == store["labels"]).mean(axis=-1) for p, _ in store["raw"]["at8"]], axis=0)
    np.testing.assert_allclose(df.drop_duplicates("epoch")["global_acc"], test_acc)


def test_learning_profile_top_k_keeps_the_true_class_and_sums_the_rest(store: dict) -> None:
    group, index = store["by_key"]["nt"], 3
    full = analysis.learning_profile(group, index)
    top = analysis.learning_profile(group, index, top_k=3)
    assert len(top) == T * 4 and top["is_true"].sum() == T
    assert set(top["class_name"]) >= {"other"}
    np.testing.assert_allclose(top.groupby("epoch")["probability"].sum(), full.groupby("epoch")["probability"].sum())
    with pytest.raises(ValueError, match="out of range"):
        analysis.learning_profile(group, N)
    with pytest.raises(ValueError, match="class_names"):
        analysis.learning_profile(group, 0, class_names=["a", "b"])


# ----------------------------------------------------------------------------- NEG, CIFAR-C, robustness, curves


def test_neg_accuracy_curves_are_the_recorded_neg_accuracy_over_seeds(store: dict) -> None:
    df = analysis.neg_accuracy_curves(store["groups"])
    assert "cifar100" not in set(df["dataset"])  # no NEG records: skipped
    for key in ("nt", "at8"):
        per_seed = np.stack([(neg.argmax(-1) == store["neg_labels"]).mean(axis=-1) for _, neg in store["raw"][key]])
        mean, std = seed_mean_std(per_seed)
        rows = df[df["label"] == store["by_key"][key].label]
        np.testing.assert_allclose(rows["mean"], mean)
        np.testing.assert_allclose(rows["std"], std, atol=1e-12)
        np.testing.assert_allclose(rows["epoch"], np.arange(1, T + 1))


def test_cifar_c_summary_means_over_seeds_with_metrics(store: dict) -> None:
    df = analysis.cifar_c_summary(store["groups"])
    assert list(df["label"]) == ["NT", "AT ε=8/255"]  # the synth group has no CIFAR-C, CIFAR-100 none either
    nt, at = df.iloc[0], df.iloc[1]
    assert nt["mean"] == pytest.approx(0.6) and nt["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert at["n_seeds"] == 2 and at["mean"] == pytest.approx(0.6)  # the unfinished seed has no metrics
    assert (df["source"] == "generated").all() and (df["convention"] == "seed_paper").all()
    rb = analysis.cifar_c_summary(store["groups"], convention="robustbench")
    assert rb["mean"].iloc[0] == pytest.approx(0.65)
    with pytest.raises(ValueError, match="convention"):
        analysis.cifar_c_summary(store["groups"], convention="paper")


def test_cifar_c_per_corruption_in_benchmark_order(store: dict) -> None:
    df = analysis.cifar_c_per_corruption(store["groups"])
    nt = df[df["label"] == "NT"]
    assert list(nt["corruption"]) == ["gaussian_noise", "fog", "saturate"]  # CIFAR_C_CORRUPTIONS order
    assert list(nt["common"]) == [True, True, False]
    fog = nt[nt["corruption"] == "fog"].iloc[0]
    assert fog["mean"] == pytest.approx(0.65) and fog["std"] == pytest.approx(np.std([0.6, 0.7], ddof=1))


def test_robust_summary_per_budget(store: dict) -> None:
    df = analysis.robust_summary(store["groups"])
    at = df[df["label"] == "AT ε=8/255"].set_index("eval_epsilon_255")
    assert list(at.index) == [4.0, 8.0]
    assert at.loc[8.0, "robust_mean"] == pytest.approx(0.15) and at.loc[4.0, "robust_mean"] == pytest.approx(0.3)
    assert at.loc[8.0, "robust_std"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert at.loc[8.0, "clean_mean"] == pytest.approx(0.85) and (at["n_seeds"] == 2).all()
    assert "cifar100" not in set(df["dataset"])  # the fake CIFAR-100 runs recorded no robust accuracy


def test_robust_summary_puts_autoattack_beside_pgd(tmp_path: Path) -> None:
    labels = np.repeat(np.arange(10), 2)
    for seed, (pgd, aa) in enumerate([(0.30, 0.25), (0.40, 0.33)]):
        metrics = {"clean_acc": 0.8, "robust_acc": {"8": pgd}, "autoattack": {"robust_acc": {"8": aa}, "version": "standard"}}
        make_run(tmp_path, TrainConfig(model="small_cnn", method="at", seed=seed), random_probs(np.random.default_rng(seed), 2, 20, 10),
                 labels, metrics=metrics)
    make_run(tmp_path, TrainConfig(model="small_cnn", method="nt"), random_probs(np.random.default_rng(5), 2, 20, 10), labels,
             metrics={"clean_acc": 0.9, "robust_acc": {"8": 0.0}})
    df = analysis.robust_summary(group_seeds(load_runs(tmp_path))).set_index(["label", "attack"])
    assert df.loc[("AT ε=8/255", "PGD"), "robust_mean"] == pytest.approx(0.35)
    assert df.loc[("AT ε=8/255", "AutoAttack"), "robust_mean"] == pytest.approx(0.29)
    assert ("NT", "AutoAttack") not in df.index and df.loc[("NT", "PGD"), "robust_mean"] == 0.0


def test_training_curves_for_groups_and_single_runs(store: dict) -> None:
    group = store["by_key"]["nt"]
    df = analysis.training_curves(store["groups"])
    acc = df[(df["label"] == "NT") & (df["dataset"] == "cifar10") & (df["metric"] == "test_acc")]
    per_seed = np.stack([(p.argmax(-1) == store["labels"]).mean(axis=-1) for p, _ in store["raw"]["nt"]])
    np.testing.assert_allclose(acc["value"], per_seed.mean(axis=0))
    assert acc["seed"].isna().all()
    assert set(df[df["dataset"] == "cifar100"]["metric"]) == {"train_loss", "train_acc", "test_acc"}  # no NEG
    runs = analysis.training_curves(group.runs)
    one = runs[(runs["seed"] == 1) & (runs["metric"] == "test_acc")]
    np.testing.assert_allclose(one["value"], per_seed[1])
    assert (one["std"] == 0).all() and (one["n_seeds"] == 1).all()


# ----------------------------------------------------------------------------- gaps, images, torch-free


def test_describe_missing_names_the_gaps(store: dict) -> None:
    notes = analysis.describe_missing(store["groups"], datasets=["cifar10", "cifar100"], epsilons=[2, 8], seeds=2)
    text = "\n".join(notes)
    assert "no AT runs for cifar10 at ε=2/255" in text
    assert "no AT runs for cifar100" in text
    assert "only 1 seed for AT ε=8/255 + synth (cifar10): std not shown" in text
    assert "AT ε=8/255 + synth (cifar10): seeds [1] missing" in text
    assert "AT ε=8/255 (cifar10): seeds [2] not finished" in text
    assert "CIFAR-C not evaluated for: AT ε=8/255 + synth (cifar10), NT (cifar100)" in text
    assert "robust accuracy not evaluated for: NT (cifar100)" in text
    assert "no runs with synthesized data for cifar100" in text
    assert "CIFAR-10-NEG" not in text  # every CIFAR-10 group recorded NEG
    assert analysis.describe_missing([])[0].startswith("no runs found")


def test_eval_images_returns_the_recorded_rows(tmp_path: Path) -> None:
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    classes = analysis.dataset_class_names("cifar10", 10)
    for c, name in enumerate(classes):
        (root / "test" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "test" / name / f"{i}.png")
    neg = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "CIFAR10_neg.npz", data=neg, labels=np.array([0, 1, 2, 3]))
    labels = np.repeat(np.arange(10), 2)  # ImageFolder order: class folders sorted, files sorted
    config = TrainConfig(method="nt", data_root=str(root), neg_path=str(root / "CIFAR10_neg.npz"))
    probs = random_probs(rng, 2, 20, 10)
    run = load_runs(make_run(tmp_path / "runs", config, probs, labels, random_probs(rng, 2, 4, 10), np.arange(4)))[0]
    images = analysis.eval_images(run)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[3], np.asarray(Image.open(root / "test" / classes[1] / "1.png")))
    np.testing.assert_array_equal(analysis.eval_images(run, "neg"), neg)
    wrong = load_runs(make_run(tmp_path / "wrong", config, probs, labels[::-1].copy()))[0]
    with pytest.raises(ValueError, match="do not match the recorded labels"):
        analysis.eval_images(wrong)


def test_analysis_never_imports_torch() -> None:
    code = "import sys, atlib.analysis; assert 'torch' not in sys.modules, 'analysis imported torch'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_groups_with_one_record_point_are_left_out_of_categories(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    make_run(tmp_path, TrainConfig(method="nt", epochs=1), random_probs(rng, 1, 5, C), np.arange(5))
    groups = group_seeds(load_runs(tmp_path))
    df = analysis.category_table(groups)
    assert df.empty and list(df.columns) == [*analysis.ID_COLUMNS, "threshold", "category", "count", "percentage"]
    assert "NT (cifar10): only 1 record point; point categories need at least 2" in analysis.describe_missing(groups)
