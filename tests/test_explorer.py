"""The learning-profile explorer, headless: filters, sorting, the slider and what it shows, and the static export.

Runs are written with known probabilities (tests/fakeruns.py): every image's true-class confidence
follows a designed curve, so categories, sort orders and profiles have values computed here
independently (Appendix B's reference code, NumPy means over seeds of the float16 records).
The runs point at a tiny ImageFolder, so the explorer finds the real images as it would for a user.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from paper_reference import point_category
from PIL import Image

from atlib import explorer
from atlib.config import TrainConfig
from atlib.data.constants import CLASS_NAMES
from atlib.io import save_npy
from atlib.metrics import CATEGORIES, DEFAULT_THRESHOLD
from fakeruns import make_run

C, T, SEEDS = 10, 6, (0, 1)
PER_CLASS_FULL, PER_CLASS_EVAL = 3, 2  # the runs evaluated the first 2 of 3 test images of each class
LABELS = np.repeat(np.arange(C), PER_CLASS_EVAL)  # (20,): ImageFolder order, by class
TEST_INDEX = np.array([c * PER_CLASS_FULL + k for c in range(C) for k in range(PER_CLASS_EVAL)])
NON_MONOTONE_NT = 7  # position whose NT profile swings by design (total drop 1.6)
SECOND_NT = 12  # NT total drop 1.2: non-monotone, but less


def designed_confidences(method: str) -> np.ndarray:
    """(T, N) true-class confidence by design: easy, hard, swinging and rising images."""
    n = len(LABELS)
    rise = np.linspace(0.1, 0.9, T)[:, None] + np.linspace(-0.05, 0.05, n)[None, :]
    conf = rise.copy()
    conf[:, [0, 1]] = 0.95  # easy
    conf[:, [2, 3]] = 0.03  # hard
    if method == "nt":
        conf[:, NON_MONOTONE_NT] = [0.2, 0.9, 0.1, 0.9, 0.1, 0.8]
        conf[:, SECOND_NT] = [0.1, 0.8, 0.1, 0.6, 0.1, 0.9]
    else:
        conf[:, 2] = rise[:, 2]  # AT learns image 2, which NT finds hard
    return conf


def probs_from(conf: np.ndarray, seed: int) -> np.ndarray:
    """(T, N, C) probabilities: the true class gets ``conf`` (jittered per seed), the next class 80% of the rest."""
    rng = np.random.default_rng(seed)
    c = np.clip(conf + rng.uniform(-0.02, 0.02, conf.shape), 0.0, 1.0)
    probs = np.repeat(((1 - c) * 0.2 / (C - 2))[..., None], C, axis=-1)
    rows = np.arange(len(LABELS))
    probs[:, rows, LABELS] = c
    probs[:, rows, (LABELS + 1) % C] = (1 - c) * 0.8
    return probs.astype(np.float32)


def write_image_folder(root: Path) -> np.ndarray:
    """A CIFAR-10 ImageFolder test split with 3 images per class; returns them in ImageFolder order."""
    rng = np.random.default_rng(123)
    images = rng.integers(0, 256, (C * PER_CLASS_FULL, 32, 32, 3), dtype=np.uint8)
    for c, name in enumerate(CLASS_NAMES["cifar10"]):
        folder = root / "test" / name
        folder.mkdir(parents=True)
        for k in range(PER_CLASS_FULL):
            Image.fromarray(images[c * PER_CLASS_FULL + k]).save(folder / f"{k:04d}.png")
    return images


def make_explorer_runs(base: Path) -> dict:
    """NT and AT ε=8/255 runs (2 seeds each) over the designed images; returns what tests compare with."""
    data_root = base / "data"
    full_images = write_image_folder(data_root)
    runs_dir = base / "runs"
    probs = {}
    for method, eps in (("nt", 0.0), ("at", 8.0)):
        conf = designed_confidences(method)
        for seed in SEEDS:
            config = TrainConfig(method=method, epsilon_255=eps, seed=seed, epochs=T, data_root=str(data_root))
            p = probs_from(conf, seed + (10 if method == "at" else 0))
            run_dir = make_run(runs_dir, config, p, LABELS)
            save_npy(run_dir / "records" / "test_index.npy", TEST_INDEX)
            probs.setdefault(method, []).append(p.astype(np.float16).astype(np.float64))  # what the records hold
    return {"runs": str(runs_dir / "*"), "probs": {k: np.stack(v) for k, v in probs.items()},
            "images": full_images[TEST_INDEX]}




def reference(probs: np.ndarray) -> dict:
    """Independent per-image facts of one group from its (S, T, N, C) records."""
    mean = probs.mean(axis=0)
    acc = (probs.argmax(-1) == LABELS).mean(-1).mean(0)
    cats = [point_category(acc, mean[:, n], LABELS[n], DEFAULT_THRESHOLD) for n in range(len(LABELS))]
    conf = mean[:, np.arange(len(LABELS)), LABELS]
    steps = np.diff(conf, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -(probs * np.where(probs > 0, np.log(probs), 0.0)).sum(-1).mean(0)  # (T, N)
    return {"mean": mean, "categories": np.array(cats), "drop": -np.where(steps < 0, steps, 0).sum(0),
            "entropy": ent, "prediction": mean[-1].argmax(-1)}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_explorer_runs(tmp_path_factory.mktemp("explorer"))


@pytest.fixture()
def ex(fixture: dict) -> explorer.ProfileExplorer:
    return explorer.ProfileExplorer.from_runs(fixture["runs"])


def test_loads_the_real_images_and_sorts_the_designed_non_monotone_image_first(ex, fixture):
    assert ex.data.labels_text == ["NT", "AT ε=8/255"]
    np.testing.assert_array_equal(ex.data.images, fixture["images"])  # found through the runs' data_root
    nt = reference(fixture["probs"]["nt"])
    assert nt["categories"][NON_MONOTONE_NT] == "non-monotone"
    assert list(ex.order[:2]) == [NON_MONOTONE_NT, SECOND_NT]
    np.testing.assert_array_equal(ex.order, np.argsort(-nt["drop"], kind="stable"))
    assert ex.current == NON_MONOTONE_NT and ex.dataset_index == TEST_INDEX[NON_MONOTONE_NT]
    assert f"#{TEST_INDEX[NON_MONOTONE_NT]}" in ex.status.value and f"#{TEST_INDEX[NON_MONOTONE_NT]}" in ex.spec["title"]["text"]


def test_category_filter_follows_the_reference_group(ex, fixture):
    for method, ref in (("nt", 0), ("at", 1)):
        ex.reference.value = ref
        cats = reference(fixture["probs"][method])["categories"]
        for name in CATEGORIES:
            ex.category.value = name
            assert sorted(ex.order) == list(np.flatnonzero(cats == name)), (method, name)
    assert reference(fixture["probs"]["nt"])["categories"][2] == "hard"
    assert reference(fixture["probs"]["at"])["categories"][2] != "hard"


def test_class_and_outcome_filters_and_sorts(ex, fixture):
    nt = reference(fixture["probs"]["nt"])
    ex.label.value = 3
    assert sorted(ex.order) == list(np.flatnonzero(LABELS == 3))
    ex.label.value = -1
    ex.outcome.value = "wrong"
    wrong = np.flatnonzero(nt["prediction"] != LABELS)
    assert len(wrong) > 0 and sorted(ex.order) == list(wrong)
    ex.outcome.value = "right"
    assert sorted(ex.order) == list(np.flatnonzero(nt["prediction"] == LABELS))
    ex.outcome.value = "all"
    ex.sort.value = "entropy"
    np.testing.assert_array_equal(ex.order, np.argsort(-nt["entropy"][-1], kind="stable"))
    ex.sort.value = "index"
    np.testing.assert_array_equal(ex.data.dataset_index[ex.order], np.sort(TEST_INDEX))


def test_empty_filter_shows_nothing(ex):
    ex.label.value = 0  # class 0 holds positions 0 and 1, both easy
    ex.category.value = "hard"
    assert len(ex.order) == 0 and ex.current is None and ex.spec is None and ex.slider.disabled
    ex.category.value = "easy"
    assert len(ex.order) == 2 and not ex.slider.disabled and ex.current in (0, 1)


def test_slider_shows_the_seed_averaged_profile_entropy_and_categories(ex, fixture):
    refs = {"NT": reference(fixture["probs"]["nt"]), "AT ε=8/255": reference(fixture["probs"]["at"])}
    for position in (3, 4, 0):
        ex.slider.value = position
        pos = ex.order[position]
        assert ex.current == pos and ex.dataset_index == TEST_INDEX[pos]
        assert ex.status.value.startswith(f"{position + 1} of {len(LABELS)}")
        for g, (label, ref) in enumerate(refs.items()):
            frame = ex.profiles[label]
            shown = frame.pivot(index="epoch", columns="class_index", values="probability").to_numpy()
            np.testing.assert_allclose(shown, ref["mean"][:, pos], rtol=0, atol=1e-12)
            assert list(frame.loc[frame["is_true"], "class_index"].unique()) == [LABELS[pos]]
            rows = ex.spec["datasets"][f"profile_{g}"]  # what the chart draws
            np.testing.assert_allclose([r["probability"] for r in rows], frame["probability"], atol=1e-12)
            assert all((r["stack_order"] == -1) == r["is_true"] for r in rows)
            curve = ex.entropy.loc[ex.entropy["group"] == label, "entropy"].to_numpy()
            np.testing.assert_allclose(curve, ref["entropy"][:, pos], atol=1e-9)
            row = ex.categories.set_index("group").loc[label]
            assert row["category"] == ref["categories"][pos]
            assert row["total drop"] == pytest.approx(ref["drop"][pos], abs=1e-9)
            assert row["correct"] == (ref["prediction"][pos] == LABELS[pos])
        assert ex.image.value == explorer.png_bytes(fixture["images"][pos])


def test_reused_chart_spec_carries_the_new_image(ex, fixture):
    """Two images of one class share a compiled spec: the second must still show its own numbers."""
    ex.label.value = 5
    first, second = ex.order
    ex.slider.value = 1
    assert ex.current == second
    rows = ex.spec["datasets"]["profile_0"]
    mean = reference(fixture["probs"]["nt"])["mean"]
    np.testing.assert_allclose([r["probability"] for r in rows], mean[:, second].ravel(), atol=1e-12)
    assert not np.allclose(mean[:, first], mean[:, second])


def test_select_returns_timing_and_validates(ex):
    seconds = ex.select(2)
    assert ex.slider.value == 2 and ex.current == ex.order[2] and 0 < seconds < 60
    with pytest.raises(ValueError, match="position must be in"):
        ex.select(len(ex.order))


def test_chart_widget_follows_the_slider(ex):
    chart = ex.chart  # the JupyterChart, offline JavaScript
    assert chart.spec == ex.spec
    ex.slider.value = 5
    assert chart.spec["title"]["text"].startswith(f"test image #{TEST_INDEX[ex.order[5]]} ")
    assert chart.embed_options["renderer"] == "svg"


def test_bad_inputs_raise_clear_errors(fixture, tmp_path):
    with pytest.raises(FileNotFoundError, match="no runs with records"):
        explorer.ProfileSet.load(str(tmp_path / "nothing*"))
    with pytest.raises(ValueError, match="images must be uint8"):
        explorer.ProfileSet.load(fixture["runs"], images=np.zeros((3, 32, 32, 3), np.uint8))
    with pytest.raises(KeyError, match="no 'neg' records"):
        explorer.ProfileSet.load(fixture["runs"], split="neg")
    data = explorer.ProfileSet.load(fixture["runs"], images=fixture["images"])
    with pytest.raises(ValueError, match="category must be"):
        data.positions(category="weird")
    with pytest.raises(ValueError, match="no run group labelled"):
        data.positions(reference="AT ε=2/255")
    with pytest.raises(ValueError, match=r"dataset indices \[2\] were not evaluated"):
        data.positions_of([0, 2])
    np.testing.assert_array_equal(data.positions_of(TEST_INDEX[[5, 0]]), [5, 0])


def _embedded_spec(html: str) -> dict:
    return json.loads(re.search(r"const spec = (\{.*?\});\n", html, re.S).group(1))


def test_export_html_is_self_contained_with_the_chosen_images(fixture, tmp_path):
    path = explorer.export_html(fixture["runs"], tmp_path / "report.html", per_category=1, max_images=6)
    html = path.read_text()
    assert not re.search(r"<script[^>]+src=", html) and "vegaEmbed" in html  # the JavaScript is inline: opens offline
    spec = _embedded_spec(html)
    data = explorer.ProfileSet.load(fixture["runs"])
    chosen = explorer.default_selection(data, 0, max_images=6, per_category=1)
    assert len(chosen) == 6 and chosen[0] == NON_MONOTONE_NT  # most non-monotone first
    assert set(data.summaries[0].categories.names()[chosen]) == set(CATEGORIES)  # one of each at least
    images = spec["datasets"]["images"]
    assert [r["caption"].split(" · ")[0] for r in images] == [f"test image #{TEST_INDEX[p]}" for p in chosen]
    assert images[0]["url"] == explorer.png_data_url(fixture["images"][NON_MONOTONE_NT], 4)
    row = next(r for r in spec["datasets"]["profile"] if r["k"] == 0 and r["g"] == 0)
    nt = reference(fixture["probs"]["nt"])
    np.testing.assert_allclose(np.array(row["p"]) / 1000, nt["mean"][:, NON_MONOTONE_NT], atol=5e-4)
    np.testing.assert_allclose(row["h"], nt["entropy"][:, NON_MONOTONE_NT], atol=5e-4)
    assert row["c"] == list(range(C)) and row["y"] == LABELS[NON_MONOTONE_NT]
    table = [r["text"] for r in spec["datasets"]["table"] if r["k"] == 0]
    assert table[0].startswith("NT: non-monotone · total drop 1.6")
    assert spec["params"][0]["bind"]["input"] == "range" and spec["params"][0]["bind"]["max"] == 5
    explorer.export_chart(data, chosen).to_dict()  # the chart is valid Vega-Lite (export_html skips validation for speed)


def test_export_cli_with_explicit_indices(fixture, tmp_path, capsys):
    out = tmp_path / "x.html"
    code = explorer.main([fixture["runs"], "--out", str(out), "--indices", f"{TEST_INDEX[4]},{TEST_INDEX[9]}",
                          "--reference", "AT ε=8/255"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    images = _embedded_spec(out.read_text())["datasets"]["images"]
    assert [r["caption"].split(" · ")[0] for r in images] == [f"test image #{TEST_INDEX[4]}", f"test image #{TEST_INDEX[9]}"]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers
    assert explorer.main([fixture["runs"], "--out", str(tmp_path / "y.html"), "--indices", "2"]) == 1
    assert "dataset indices [2] were not evaluated" in capsys.readouterr().err and not (tmp_path / "y.html").exists()
