"""The learning-profile explorer, headless: filters, sorting, the slider and what it shows, the static export and
notebook 02's category gallery.

Runs are written with known probabilities (tests/fakeruns.py): every image's true-class confidence
follows a designed curve, so categories, sort orders and profiles have values computed here
independently (Appendix B's reference code, NumPy means over seeds of the float16 records).
The runs point at a tiny ImageFolder, so the explorer finds the real images as it would for a user.
The runs evaluated a subset of the test split, so record rows and CIFAR-10 test indices differ, as
they do for a user's runs: the tests check that each is shown under its own name.
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
from atlib.plots import profiles
from atlib.config import TrainConfig
from atlib.datasets import DATASET_INFO
from atlib.explorer import export, gallery
from atlib.explorer.__main__ import main
from atlib.explorer.charts import compile_spec
from atlib.metrics import CATEGORIES, default_threshold
from fakeruns import make_dynamics, make_run, random_probs
from test_plots import drawn_profile, units

C, T, SEEDS = 10, 6, (0, 1)
PER_CLASS_FULL, PER_CLASS_EVAL = 3, 2  # the runs evaluated the first 2 of 3 test images of each class
LABELS = np.repeat(np.arange(C), PER_CLASS_EVAL)  # (20,): ImageFolder order, by class
TEST_INDEX = np.array([c * PER_CLASS_FULL + k for c in range(C) for k in range(PER_CLASS_EVAL)])
NON_MONOTONE_NT = 7  # record row whose NT profile swings by design (total drop 1.6)
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
    for c, name in enumerate(DATASET_INFO["cifar10"].classes):
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
            make_run(runs_dir, config, p, LABELS, test_index=TEST_INDEX)
            probs.setdefault(method, []).append(p.astype(np.float16).astype(np.float64))  # what the records hold
    return {"runs": str(runs_dir / "*"), "probs": {k: np.stack(v) for k, v in probs.items()},
            "images": full_images[TEST_INDEX]}


def reference(probs: np.ndarray) -> dict:
    """Independent per-image facts of one group from its (S, T, N, C) records."""
    mean = probs.mean(axis=0)
    acc = (probs.argmax(-1) == LABELS).mean(-1).mean(0)
    cats = [point_category(acc, mean[:, n], LABELS[n], default_threshold(len(acc))) for n in range(len(LABELS))]
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


def name_of(row: int) -> str:
    """How every view names the image at a record row: its CIFAR-10 test index and its record row."""
    return f"CIFAR-10 test index {TEST_INDEX[row]} · record row {row}"


def panel(spec: dict, g: int) -> dict:
    """The widget's Fig 6 panel of group ``g`` with the spec's datasets, renderable on its own."""
    return {**spec["vconcat"][0]["hconcat"][g], "datasets": spec["datasets"]}


def test_loads_the_real_images_and_sorts_the_designed_non_monotone_image_first(ex, fixture):
    assert ex.data.group_labels == ["NT", "AT ε=8/255"]
    np.testing.assert_array_equal(ex.data.images, fixture["images"])  # found through the runs' data_root
    nt = reference(fixture["probs"]["nt"])
    assert nt["categories"][NON_MONOTONE_NT] == "non-monotone"
    assert list(ex.order[:2]) == [NON_MONOTONE_NT, SECOND_NT]
    np.testing.assert_array_equal(ex.order, np.argsort(-nt["drop"], kind="stable"))
    assert ex.row == NON_MONOTONE_NT and ex.dataset_index == TEST_INDEX[NON_MONOTONE_NT] != NON_MONOTONE_NT
    assert f"<b>{name_of(NON_MONOTONE_NT)} · true class: cat</b>" in ex.status.value
    assert ex.spec["title"]["text"] == f"{name_of(NON_MONOTONE_NT)} · true class: cat"


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
    ex.true_class.value = 3
    assert sorted(ex.order) == list(np.flatnonzero(LABELS == 3))
    ex.true_class.value = -1
    ex.outcome.value = "wrong"
    wrong = np.flatnonzero(nt["prediction"] != LABELS)
    assert len(wrong) > 0 and sorted(ex.order) == list(wrong)
    ex.outcome.value = "right"
    assert sorted(ex.order) == list(np.flatnonzero(nt["prediction"] == LABELS))
    ex.outcome.value = "all"
    ex.sort.value = "entropy"
    np.testing.assert_array_equal(ex.order, np.argsort(-nt["entropy"][-1], kind="stable"))
    ex.sort.value = "dataset index"
    np.testing.assert_array_equal(ex.data.dataset_index[ex.order], np.sort(TEST_INDEX))


def test_empty_filter_shows_nothing(ex):
    ex.true_class.value = 0  # class 0 holds record rows 0 and 1, both easy
    ex.category.value = "hard"
    assert len(ex.order) == 0 and ex.row is None and ex.spec is None and ex.slider.disabled
    ex.category.value = "easy"
    assert len(ex.order) == 2 and not ex.slider.disabled and ex.row in (0, 1)


def test_slider_shows_the_seed_averaged_profile_entropy_and_categories(ex, fixture):
    refs = {"NT": reference(fixture["probs"]["nt"]), "AT ε=8/255": reference(fixture["probs"]["at"])}
    for pick in (3, 4, 0):
        ex.slider.value = pick
        row = ex.order[pick]
        assert ex.row == row and ex.dataset_index == TEST_INDEX[row]
        assert ex.status.value.startswith(f"{pick + 1} of {len(LABELS)}")
        profile = ex.spec["datasets"]["profile"]  # what the chart draws: one compact row per group
        assert [(r["pick"], r["group"]) for r in profile] == [(0, 0), (0, 1)]
        for g, (label, ref) in enumerate(refs.items()):
            frame = ex.data.profile(g, row)
            shown = frame.pivot(index="epoch", columns="class_index", values="probability").to_numpy()
            np.testing.assert_allclose(shown, ref["mean"][:, row], rtol=0, atol=1e-12)
            assert profile[g]["true_class"] == LABELS[row] and profile[g]["classes"] == list(range(C))
            np.testing.assert_allclose(np.array(profile[g]["permille"]) / 1000, ref["mean"][:, row], atol=5e-4)
            np.testing.assert_allclose(profile[g]["entropy"], ref["entropy"][:, row], atol=5e-4)
            line = ex.categories.set_index("group").loc[label]
            assert line["category"] == ref["categories"][row]
            assert line["total drop"] == pytest.approx(ref["drop"][row], abs=1e-9)
            assert line["correct"] == (ref["prediction"][row] == LABELS[row])
        assert ex.image.value == profiles.png_bytes(fixture["images"][row], 5)
    groups = ex.spec["datasets"]["profile_groups"]
    assert [g["label"] for g in groups] == ["NT", "AT ε=8/255"] and groups[0]["epoch"] == [1, 2, 3, 4, 5, 6]


def test_vega_draws_the_picked_image_under_each_group(ex, fixture):
    """Rendered by Vega (vl-convert): the compact rows unfold into the seed-averaged probability of every class."""
    ex.slider.value = 1
    row = ex.order[1]
    for g, method in enumerate(("nt", "at")):
        mean = reference(fixture["probs"][method])["mean"][:, row]  # (T, C)
        drawn = drawn_profile(panel(ex.spec, g)).sort_values(["epoch", "stack_order"])
        assert len(drawn) == T * C
        by_name = {name: i for i, name in enumerate(DATASET_INFO["cifar10"].classes)}
        classes = drawn["class_name"].map(by_name).to_numpy()
        np.testing.assert_allclose(drawn["probability"], mean[(drawn["epoch"].to_numpy() - 1).astype(int), classes], atol=5.1e-4)
        assert set(drawn.loc[drawn["stack_order"] == -1, "class_name"]) == {DATASET_INFO["cifar10"].classes[LABELS[row]]}


def test_a_slider_move_swaps_only_the_data_of_the_one_compiled_spec(ex, fixture):
    ex.true_class.value = 5  # two images of one class
    first = {k: v for k, v in ex.spec.items() if k not in ("title", "datasets")}
    ex.slider.value = 1
    assert {k: v for k, v in ex.spec.items() if k not in ("title", "datasets")} == first
    mean = reference(fixture["probs"]["nt"])["mean"]
    np.testing.assert_allclose(np.array(ex.spec["datasets"]["profile"][0]["permille"]) / 1000, mean[:, ex.row], atol=5e-4)
    assert not np.allclose(mean[:, ex.order[0]], mean[:, ex.order[1]], atol=1e-2)


def test_widget_export_and_gallery_draw_one_learning_profile_spec(ex, fixture):
    """The Fig 6 panels differ only in which rows they filter, their title and where their data come from."""
    data = ex.data

    def core(spec: dict) -> dict:
        layers = json.loads(json.dumps(spec["layer"]))
        for layer in layers:
            layer.pop("data", None)
            transforms = [t for t in layer["transform"] if "filter" not in t or t["filter"] == "datum.is_true"]
            layer["transform"] = [{**t, "from": {**t["from"], "data": None}} if "lookup" in t else t for t in transforms]
        return layers

    widget = ex.spec["vconcat"][0]["hconcat"][0]
    exported = compile_spec(export.export_chart(data, {"test": export.export_order(data, [0, 1, 2], 0, 0)}))["vconcat"][3]["hconcat"][0]
    one = explorer.ProfileSet.load([data.groups[0]])
    cell = gallery.category_gallery_chart(one, gallery.category_examples(one, 1)).to_dict()["vconcat"][0]["hconcat"][0]["hconcat"][1]
    assert core(widget) == core(exported) == core(cell)
    assert widget["title"]["text"] == exported["title"]["text"] == "NT" and cell["title"]["text"] == "easy: airplane"


def test_select_returns_timing_and_validates(ex):
    seconds = ex.select(2)
    assert ex.slider.value == 2 and ex.row == ex.order[2] and 0 < seconds < 60
    with pytest.raises(ValueError, match="pick must be in"):
        ex.select(len(ex.order))


def test_chart_widget_follows_the_slider(ex):
    chart = ex.chart  # the JupyterChart, offline JavaScript
    assert chart.spec == ex.spec
    ex.slider.value = 5
    assert chart.spec["title"]["text"].startswith(f"{name_of(ex.order[5])} · ")
    assert chart.embed_options["renderer"] == "svg"


def test_bad_inputs_raise_clear_errors(fixture, tmp_path):
    with pytest.raises(FileNotFoundError, match="no runs with records"):
        explorer.ProfileSet.load(str(tmp_path / "nothing*"))
    with pytest.raises(ValueError, match="images must be uint8"):
        explorer.ProfileSet.load(fixture["runs"], images=np.zeros((3, 32, 32, 3), np.uint8))
    with pytest.raises(KeyError, match="no 'neg' records"):
        explorer.ProfileSet.load(fixture["runs"], split="neg")
    data = explorer.ProfileSet.load(fixture["runs"], images=fixture["images"])
    assert data.threshold is None  # none given: each group's default for its number of record points
    assert {s.categories.threshold for s in data.summaries} == {default_threshold(g.num_points) for g in data.groups}
    with pytest.raises(ValueError, match="category must be"):
        data.filtered_rows(category="weird")
    with pytest.raises(ValueError, match="no run group labelled"):
        data.filtered_rows(reference="AT ε=2/255")
    with pytest.raises(ValueError, match=r"CIFAR-10 test index \[2\] not evaluated"):
        data.rows_of([0, 2])
    np.testing.assert_array_equal(data.rows_of(TEST_INDEX[[5, 0]]), [5, 0])


def test_missing_images_are_optional_for_the_gallery_only(fixture, monkeypatch):
    def not_found(*_):
        raise FileNotFoundError("cifar10 test split not found")  # as atlib.data says when the runs' data is gone

    monkeypatch.setattr("atlib.analysis.eval_images", not_found)
    with pytest.raises(FileNotFoundError, match="not found\nThe explorer shows the images .* make their data findable"):
        explorer.ProfileExplorer.from_runs(fixture["runs"])
    data = explorer.ProfileSet.load(fixture["runs"], require_images=False)
    assert data.images is None and data.images_error == "cifar10 test split not found"
    chart = gallery.category_gallery_chart(data, gallery.category_examples(data, 1)).to_dict()
    marks = [u["type"] for u in units(chart)]
    assert "image" not in marks and len(marks) == 4 * 3  # four examples (one per category), three layers each
    with pytest.raises(FileNotFoundError, match="shows the images"):
        explorer.ProfileExplorer(data)



def test_gallery_shows_category_examples_under_both_numbers(fixture):
    """Notebook 02's Fig 6 gallery: random examples per category, titled by category and class, subtitled
    with the CIFAR-10 test index and the record row (which differ here), image beside profile."""
    data = explorer.ProfileSet.load([explorer.ProfileSet.load(fixture["runs"]).groups[0]])
    examples = gallery.category_examples(data, per_category=2, seed=0)
    assert list(examples.columns) == ["category", "class", "record row", "CIFAR-10 test index", "total drop"]
    nt = reference(fixture["probs"]["nt"])
    rows = examples["record row"].to_numpy()
    assert list(examples["category"]) == list(nt["categories"][rows]) and set(examples["category"]) == set(CATEGORIES)
    np.testing.assert_array_equal(examples["CIFAR-10 test index"], TEST_INDEX[rows])
    assert list(examples["class"]) == [DATASET_INFO["cifar10"].classes[c] for c in LABELS[rows]]
    np.testing.assert_allclose(examples["total drop"], nt["drop"][rows], atol=1e-6)
    assert list(gallery.category_examples(data, per_category=2, seed=0)["record row"]) == list(rows)  # the seed fixes the picks

    spec = gallery.category_gallery_chart(data, examples).to_dict()
    lines = spec["vconcat"]
    assert len(lines) == len(CATEGORIES)
    cells = [cell["hconcat"] for line in lines for cell in line["hconcat"]]
    assert len(cells) == len(rows)
    for k, ((image, profile), row) in enumerate(zip(cells, rows)):
        assert profile["title"]["text"] == f"{examples['category'][k]}: {examples['class'][k]}"
        assert profile["title"]["subtitle"][0] == name_of(row)
        url = spec["datasets"][image["data"]["name"]][0]["url"]
        assert url == profiles.png_data_url(fixture["images"][row], gallery.IMAGE_SCALE)
    drawn = drawn_profile({**cells[-1][1], "datasets": spec["datasets"]})  # the last cell, rendered by Vega
    last = rows[-1]
    top = drawn.query("stack_order == -1").sort_values("epoch")
    np.testing.assert_allclose(top["probability"], nt["mean"][:, last, LABELS[last]], atol=5.1e-4)


def _embedded_spec(html: str) -> dict:
    return json.loads(re.search(r"const spec = (\{.*?\});\n", html, re.S).group(1))


def test_export_html_is_self_contained_with_the_chosen_images(fixture, tmp_path):
    path = explorer.export_html(fixture["runs"], tmp_path / "report.html", per_category=1, max_images=6)
    html = path.read_text()
    assert not re.search(r"<script[^>]+src=", html) and "vegaEmbed" in html  # the JavaScript is inline: opens offline
    spec = _embedded_spec(html)
    data = explorer.ProfileSet.load(fixture["runs"])
    chosen = export.default_selection(data, 0, max_images=6, per_category=1)
    assert len(chosen) == 6 and chosen[0] == NON_MONOTONE_NT  # most non-monotone first
    assert set(data.summaries[0].categories.names()[chosen]) == set(CATEGORIES)  # one of each at least
    images = spec["datasets"]["images"]
    assert [r["caption"].split(" · true class")[0] for r in images] == [name_of(r) for r in chosen]
    assert images[0]["pick"] == 0 and images[0]["url"] == profiles.png_data_url(fixture["images"][NON_MONOTONE_NT], 4)
    row = next(r for r in spec["datasets"]["profile"] if r["pick"] == 0 and r["group"] == 0)
    nt = reference(fixture["probs"]["nt"])
    np.testing.assert_allclose(np.array(row["permille"]) / 1000, nt["mean"][:, NON_MONOTONE_NT], atol=5e-4)
    np.testing.assert_allclose(row["entropy"], nt["entropy"][:, NON_MONOTONE_NT], atol=5e-4)
    assert row["classes"] == list(range(C)) and row["true_class"] == LABELS[NON_MONOTONE_NT]
    assert spec["datasets"]["profile_groups"] == data.chart_rows([])["profile_groups"]  # epochs and accuracy once per group
    table = [r["text"] for r in spec["datasets"]["table"] if r["pick"] == 0]
    assert table[0].startswith("NT: non-monotone · total drop 1.6")
    params = {p["name"]: p for p in spec["params"]}
    assert params["position"]["bind"]["input"] == "range" and params["position"]["bind"]["max"] == 5
    assert params["category"]["bind"]["options"] == ["all", *CATEGORIES] and params["split"]["bind"]["options"] == ["test"]
    order = export.export_order(data, chosen, 0, 0)
    assert order[0] == list(range(6)) and sum(len(ids) for ids in order[1:]) == 6  # every image under its one category
    export.export_chart(data, {"test": order}).to_dict()  # the chart is valid Vega-Lite (export_html skips validation for speed)


def test_export_cli_with_explicit_dataset_indices(fixture, tmp_path, capsys):
    out = tmp_path / "x.html"
    code = main([fixture["runs"], "--out", str(out), "--indices", f"{TEST_INDEX[4]},{TEST_INDEX[9]}", "--reference", "AT ε=8/255"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    images = _embedded_spec(out.read_text())["datasets"]["images"]
    assert [r["caption"].split(" · true class")[0] for r in images] == [name_of(4), name_of(9)]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers
    assert main([fixture["runs"], "--out", str(tmp_path / "y.html"), "--indices", "2"]) == 2
    assert "CIFAR-10 test index [2] not evaluated" in capsys.readouterr().err and not (tmp_path / "y.html").exists()


# ----------------------------------------------------------------------------- the training probe (split selector)

TRAIN_ROWS = np.array([c * PER_CLASS_FULL + k for c in range(C) for k in range(2)])  # train_subset=20: 2 of 3 per class
PROBE = np.arange(0, len(TRAIN_ROWS), 2)  # one per class, as columns of the training subset


@pytest.fixture(scope="module")
def probe_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """NT and AT runs (2 seeds each) with test records, a training probe and per-epoch training losses;
    the training split's images in an ImageFolder beside the test split's."""
    base = tmp_path_factory.mktemp("probe")
    write_image_folder(base / "data")
    rng = np.random.default_rng(7)
    train = rng.integers(0, 256, (C * PER_CLASS_FULL, 32, 32, 3), dtype=np.uint8)
    for c, name in enumerate(DATASET_INFO["cifar10"].classes):
        (base / "data" / "train" / name).mkdir(parents=True)
        for k in range(PER_CLASS_FULL):
            Image.fromarray(train[c * PER_CLASS_FULL + k]).save(base / "data" / "train" / name / f"{k:04d}.png")
    train_labels = np.repeat(np.arange(C), 2)
    losses = {}
    for method, eps in (("nt", 0.0), ("at", 8.0)):
        for seed in SEEDS:
            config = TrainConfig(method=method, epsilon_255=eps, seed=seed, epochs=T, data_root=str(base / "data"),
                                 train_subset=len(TRAIN_ROWS))
            run_dir = make_run(base / "runs", config, probs_from(designed_confidences(method), seed), LABELS,
                               probe_probs=random_probs(rng, T, len(PROBE), C), probe_labels=train_labels[PROBE], probe_index=PROBE,
                               train_index=TRAIN_ROWS, test_index=TEST_INDEX)
            loss = rng.random((T, len(TRAIN_ROWS)))
            loss[rng.random(loss.shape) < 0.3] = np.nan  # not presented in that epoch
            make_dynamics(run_dir, train_labels, np.where(np.isnan(loss), np.nan, 1.0), loss=loss, train_index=TRAIN_ROWS)
            losses.setdefault(method, []).append(loss.astype(np.float16).astype(np.float64))
    return {"runs": str(base / "runs" / "*"), "images": train[TRAIN_ROWS[PROBE]], "losses": losses}


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
def test_split_selector_browses_the_training_probe_with_its_presentation_history(probe_fixture, tmp_path, capsys):
    import vl_convert

    ex = explorer.ProfileExplorer.from_runs(probe_fixture["runs"])
    assert list(ex.split.options) == ["test", "probe"] and ex.split.value == "test"  # these runs have no NEG records
    assert len(ex.spec["vconcat"]) == 2 and "history" not in ex.spec["datasets"]
    ex.split.value = "probe"
    data = ex.data
    assert data.split == "probe" and len(ex.order) == len(PROBE)
    np.testing.assert_array_equal(data.dataset_index, TRAIN_ROWS[PROBE])  # rows of the full training split
    np.testing.assert_array_equal(data.images, probe_fixture["images"])  # found in the runs' data_root, labels checked
    assert ex.status.value.count(f"CIFAR-10 train index {TRAIN_ROWS[PROBE][ex.row]} · record row {ex.row}") == 1
    history = [r for r in ex.spec["datasets"]["history"] if r["field"] == "loss"]
    for g, method in enumerate(("nt", "at")):
        row = next(r for r in history if r["group"] == g)
        want = np.nanmean(np.stack(probe_fixture["losses"][method])[:, :, PROBE[ex.row]], axis=0)
        assert row["epoch"] == list(range(1, T + 1))
        np.testing.assert_allclose([np.nan if v is None else v for v in row["value"]], want, atol=1e-4)
    assert len(ex.spec["vconcat"]) == 3  # profiles, entropy, presentation history
    svg = vl_convert.vegalite_to_svg(json.loads(json.dumps(ex.spec)))  # Vega runs the history view's transforms
    assert "Training loss" in svg and "Margin" in svg
    ex.split.value = "test"
    assert ex.data.split == "test" and ex.row == NON_MONOTONE_NT and len(ex.spec["vconcat"]) == 2

    out = tmp_path / "probe.html"
    assert main([probe_fixture["runs"], "--out", str(out), "--split", "probe", "--per-category", "1", "--max-images", "3"]) == 0
    spec = _embedded_spec(out.read_text())
    assert {r["pick"] for r in spec["datasets"]["history"]} == {0, 1, 2}
    assert spec["datasets"]["images"][0]["caption"].startswith("CIFAR-10 train index")
    export.export_chart(data, {"probe": export.export_order(data, [0, 1, 2], 0, 0)}).to_dict()  # valid Vega-Lite with the history view


def test_autoattack_column_appears_only_when_some_run_has_it(ex):
    assert "robust under AutoAttack" not in ex.data.category_frame(0).columns  # these runs were never attacked
    assert list(ex.categories.columns)[:2] == ["group", "category"]
