"""atlib.plots: each chart's marks, encodings and the data that reaches it (via ``to_dict``), and the saved files."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
from typing import Any, Iterator

import altair as alt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from atlib import plots
from atlib.plots import profiles, robustness, style
from atlib.metrics import CATEGORIES, DEFAULT_THRESHOLD_PER_STEP

KINDS = [("NT", "nt", 0.0, False), ("AT ε=2/255", "at", 2.0, False), ("AT ε=8/255", "at", 8.0, False),
         ("NT + synth", "nt", 0.0, True), ("AT ε=8/255 + synth", "at", 8.0, True)]


def ids(label: str, method: str, eps: float, synthetic: bool, dataset: str = "cifar10") -> dict[str, Any]:
    return {"label": label, "series": label.replace(f" ε={eps:g}/255", ""), "dataset": dataset, "model": "resnet18",
            "method": method, "epsilon_255": eps, "synthetic": synthetic, "data": "synth" if synthetic else "original", "n_seeds": 2}


def frame(rows_per_kind: dict[str, list], kinds=KINDS, dataset: str = "cifar10") -> pd.DataFrame:
    """Rows for every kind: ``rows_per_kind`` maps a column to one list of values per kind (broadcast by pandas)."""
    parts = [pd.DataFrame({**ids(*kind, dataset=dataset), **{k: v[i] for k, v in rows_per_kind.items()}}) for i, kind in enumerate(kinds)]
    return pd.concat(parts, ignore_index=True)


def curves(dataset: str = "cifar10", kinds=KINDS) -> pd.DataFrame:
    epochs = np.arange(1, 6, dtype=float)
    return frame({"epoch": [epochs] * len(kinds), "mean": [np.linspace(2, 0.2 * (i + 1), 5) for i in range(len(kinds))],
                  "std": [np.full(5, 0.05)] * len(kinds)}, kinds, dataset)


def nodes(spec: Any) -> Iterator[dict]:
    if isinstance(spec, dict):
        yield spec
        for value in spec.values():
            yield from nodes(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from nodes(value)


def units(spec: dict) -> list[dict]:
    """Every unit spec (has a mark), with its mark type under ``"type"``."""
    return [dict(n, type=n["mark"] if isinstance(n["mark"], str) else n["mark"]["type"]) for n in nodes(spec) if "mark" in n]


def rows(spec: dict) -> list[dict]:
    """All records of all datasets the spec carries."""
    return [r for values in spec.get("datasets", {}).values() for r in values]


def color_map(spec: dict, field: str = "label") -> dict[str, str]:
    scales = [n["scale"] for n in nodes(spec) if n.get("field") == field and isinstance(n.get("scale"), dict) and "range" in n["scale"]]
    assert scales, f"no colour scale over {field}"
    return dict(zip(scales[0]["domain"], scales[0]["range"]))


def luminance(color: str) -> float:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# ----------------------------------------------------------------------------- colours


def test_label_colours_are_fixed_per_run_kind_across_figures() -> None:
    entropy = plots.mean_entropy_chart(curves()).to_dict()
    neg = plots.neg_accuracy_chart(curves(kinds=KINDS[2:])).to_dict()  # fewer kinds, another domain
    a, b = color_map(entropy), color_map(neg)
    assert a["AT ε=8/255"] == b["AT ε=8/255"] == style.label_color("at", 8, False)
    assert a["AT ε=8/255 + synth"] == b["AT ε=8/255 + synth"] != a["AT ε=8/255"]
    assert list(a) == ["NT", "NT + synth", "AT ε=2/255", "AT ε=8/255", "AT ε=8/255 + synth"]  # NT first, then by ε
    reds = [style.label_color("at", e, False) for e in (1, 2, 4, 8, 16)]
    assert all(luminance(x) > luminance(y) for x, y in zip(reds, reds[1:]))  # stronger attack, darker line
    assert style.label_color("at", 0.5, False) == reds[0] and style.label_color("at", 32, False) == reds[-1]
    r, g, b = (int(style.label_color("at", 8, True)[i:i + 2], 16) for i in (1, 3, 5))
    assert b > r  # synthesized data: the blue family


# ----------------------------------------------------------------------------- Fig 1


def test_entropy_distribution_chart_draws_prebinned_histograms() -> None:
    edges = np.linspace(0, np.log(10), 41)
    density = [np.full(40, 1 / np.log(10)), np.r_[40 / np.log(10), np.zeros(39)]]
    df = frame({"epoch": [120.0] * 2, "bin_start": [edges[:-1]] * 2, "bin_end": [edges[1:]] * 2, "density": density}, KINDS[:2])
    spec = plots.entropy_distribution_chart(df).to_dict()
    (unit,) = units(spec)
    assert unit["type"] == "line" and unit["mark"]["interpolate"] == "step-after"  # outlines: no blended fills
    enc = unit["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"], enc["y"]["field"]) == ("bin_start", "quantitative", "density")
    data = pd.DataFrame(rows(spec))
    assert len(data) == 82  # each histogram closes at its last bin's end
    for label, d in zip(df["label"].unique(), density):
        mine = data[data["label"] == label]
        np.testing.assert_allclose(mine["bin_start"], np.r_[edges[:-1], edges[-1]])
        np.testing.assert_allclose(mine["density"], np.r_[d, d[-1]])
    assert "epoch 120" in spec["title"]["subtitle"]


def test_mean_entropy_chart_band_line_and_dash_only_when_data_mixed() -> None:
    spec = plots.mean_entropy_chart(curves()).to_dict()
    area, line = units(spec)
    assert (area["type"], line["type"]) == ("area", "line")
    assert {t["as"]: t["calculate"] for t in area["transform"]} == {"lo": "datum.mean - datum.std", "hi": "datum.mean + datum.std"}
    assert line["encoding"]["y"]["field"] == "mean" and line["encoding"]["strokeDash"]["field"] == "data"
    np.testing.assert_allclose(pd.DataFrame(rows(spec))["mean"], curves()["mean"])
    original_only = plots.mean_entropy_chart(curves(kinds=KINDS[:3])).to_dict()
    assert "strokeDash" not in units(original_only)[1]["encoding"]


def test_two_datasets_become_two_panels_sharing_colours() -> None:
    df = pd.concat([curves("cifar10"), curves("cifar100", KINDS[:3])], ignore_index=True)
    spec = plots.mean_entropy_chart(df).to_dict()
    assert [panel["title"]["text"].split(":")[0] for panel in spec["hconcat"]] == ["CIFAR-10", "CIFAR-100"]
    assert spec["resolve"]["scale"]["color"] == "shared"
    assert len(rows(spec)) == len(df)


# ----------------------------------------------------------------------------- Fig 2, 3, threshold sweep


def category_frame(kinds=KINDS[:3]) -> pd.DataFrame:
    shares = [[10.0, 20.0, 30.0, 40.0], [5.0, 25.0, 50.0, 20.0], [1.0, 40.0, 55.0, 4.0]]
    return frame({"category": [list(CATEGORIES)] * len(kinds), "count": [[1, 2, 3, 4]] * len(kinds),
                  "percentage": shares[: len(kinds)]}, kinds)


def test_category_distribution_chart_bars_in_category_order() -> None:
    spec = plots.category_distribution_chart(category_frame(KINDS[:1])).to_dict()
    bar, text = units(spec)
    assert (bar["type"], text["type"]) == ("bar", "text")
    assert bar["encoding"]["x"]["sort"] == list(CATEGORIES) and bar["encoding"]["y"]["field"] == "percentage"
    assert color_map(spec, "category") == style.CATEGORY_COLORS
    assert [r["percentage"] for r in rows(spec)] == [10.0, 20.0, 30.0, 40.0]
    multi = plots.category_distribution_chart(category_frame()).to_dict()
    assert multi["facet"]["field"] == "label" and len(rows(multi)) == 12 and multi["columns"] == 3


def test_categories_vs_epsilon_chart_puts_nt_at_zero() -> None:
    spec = plots.categories_vs_epsilon_chart(category_frame()).to_dict()
    line, point = units(spec)
    assert (line["type"], point["type"]) == ("line", "point")
    x = line["encoding"]["x"]
    assert (x["field"], x["type"]) == ("epsilon_255", "ordinal") and "'NT'" in x["axis"]["labelExpr"]
    assert line["encoding"]["color"]["field"] == "category"
    data = pd.DataFrame(rows(spec))
    assert data.groupby("epsilon_255")["percentage"].sum().to_dict() == {0.0: 100.0, 2.0: 100.0, 8.0: 100.0}


def test_threshold_sweep_chart_marks_each_groups_default_threshold() -> None:
    df = pd.DataFrame({"threshold": np.repeat([0.5, 1.0, 2.0], 4), "category": list(CATEGORIES) * 3,
                       "percentage": [0, 10, 10, 80, 0, 20, 30, 50, 5, 30, 45, 20.0], "label": "NT", "default": 1.2})
    spec = plots.threshold_sweep_chart(df).to_dict()
    rule = [u for u in units(spec) if u["type"] == "rule"][0]
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x"]["aggregate"]) == ("default", "min")
    assert len(rows(spec)) == 12 and "(NT)" in spec["title"]["text"]
    assert f"{DEFAULT_THRESHOLD_PER_STEP:g} per step" in spec["title"]["subtitle"]
    # Two groups recorded at different numbers of points: one panel each, each rule from its own rows.
    other = df.assign(label="AT ε=8/255", default=2.4)
    faceted = plots.threshold_sweep_chart(pd.concat([df, other])).to_dict()
    assert faceted["facet"]["field"] == "label" and len(rows(faceted)) == 24
    assert faceted["facet"]["sort"] == ["NT", "AT ε=8/255"]  # the frame's (settings') order, not alphabetical
    with pytest.raises(ValueError, match="default"):
        plots.threshold_sweep_chart(df.drop(columns="default"))


# ----------------------------------------------------------------------------- Fig 4, 5, 7/8, robustness, curves


def test_neg_accuracy_chart_shows_percentages_with_a_std_band() -> None:
    spec = plots.neg_accuracy_chart(curves(kinds=KINDS[:3])).to_dict()
    area, line = units(spec)
    assert line["encoding"]["y"]["axis"]["format"] == ".0%" and area["encoding"]["y2"]["field"] == "hi"
    assert spec["title"]["text"] == "CIFAR-10-NEG accuracy over training"


def cifar_c_frame() -> pd.DataFrame:
    return frame({"convention": ["seed_paper"] * 5, "mean": [[0.70], [0.68], [0.60], [0.71], [0.74]],
                  "std": [[0.01]] * 5, "source": ["released"] * 5})


def test_cifar_c_chart_has_four_series_and_nt_as_reference_lines() -> None:
    spec = plots.cifar_c_chart(cifar_c_frame()).to_dict()
    series = color_map(spec, "series")
    assert list(series) == ["NT", "NT + synth", "AT", "AT + synth"]
    assert series == {"NT": "#1b7837", "NT + synth": "#7fbc41", "AT": "#d7301f", "AT + synth": "#2b8cbe"}  # the families' mid tones
    by_filter = {}
    for unit in units(spec):
        by_filter.setdefault(unit["transform"][0]["filter"], []).append(unit)
    nt_rule = [u for u in by_filter[robustness.without_epsilon()] if u["type"] == "rule"][0]
    assert "x" not in nt_rule["encoding"] and nt_rule["mark"]["strokeDash"]  # horizontal dashed reference
    at_line = [u for u in by_filter[f"!({robustness.without_epsilon()})"] if u["type"] == "line"][0]
    assert at_line["encoding"]["x"]["field"] == "epsilon_255" and at_line["encoding"]["y"]["field"] == "mean"
    data = pd.DataFrame(rows(spec))
    assert dict(zip(data["label"], data["series"])) == {"NT": "NT", "AT ε=2/255": "AT", "AT ε=8/255": "AT",
                                                         "NT + synth": "NT + synth", "AT ε=8/255 + synth": "AT + synth"}
    np.testing.assert_allclose(data["mean"], [0.70, 0.68, 0.60, 0.71, 0.74])


def test_cifar_c_corruptions_chart_facets_per_corruption() -> None:
    names = ["gaussian_noise", "fog", "jpeg_compression"]
    df = frame({"corruption": [names] * 5, "common": [[True] * 3] * 5, "mean": [[0.5, 0.6, 0.7]] * 5, "std": [[0.0] * 3] * 5})
    spec = plots.cifar_c_corruptions_chart(df).to_dict()
    assert spec["facet"]["field"] == "corruption_title" and spec["columns"] == 5
    assert spec["facet"]["sort"] == ["Gaussian noise", "Fog", "Jpeg compression"]
    assert len(rows(spec)) == 15


def test_robust_accuracy_chart_shows_clean_and_each_budget() -> None:
    df = frame({"eval_epsilon_255": [[4.0, 8.0]] * 3, "robust_mean": [[0.01, 0.0], [0.3, 0.2], [0.5, 0.4]],
                "robust_std": [[0.0, 0.0]] * 3, "clean_mean": [0.95, 0.9, 0.85], "clean_std": [0.01] * 3, "attack": ["PGD"] * 3},
               KINDS[:3])
    autoattack = df[df["eval_epsilon_255"] == 8.0].assign(attack="AutoAttack", robust_mean=lambda d: d["robust_mean"] - 0.01)
    spec = plots.robust_accuracy_chart(pd.concat([df, autoattack], ignore_index=True)).to_dict()
    data = pd.DataFrame(rows(spec))
    assert len(data) == 3 + 6 + 3  # one clean row per run kind, one robust row per kind, attack and budget
    assert data.groupby("measure")["mean"].apply(list).to_dict() == {
        "clean": [0.95, 0.9, 0.85], "PGD ε=4/255": [0.01, 0.3, 0.5], "PGD ε=8/255": [0.0, 0.2, 0.4],
        "AutoAttack ε=8/255": pytest.approx([-0.01, 0.19, 0.39])}
    line = [u for u in units(spec) if u["type"] == "line"][0]
    assert line["encoding"]["strokeDash"]["field"] == "measure" and line["encoding"]["x"]["field"] == "epsilon_255"


def test_training_curves_chart_one_panel_per_metric() -> None:
    df = pd.concat([curves(kinds=KINDS[:2]).rename(columns={"mean": "value"}).assign(metric=m, seed=np.nan)
                    for m in ("train_loss", "test_acc")], ignore_index=True)
    spec = plots.training_curves_chart(df).to_dict()
    assert spec["facet"]["field"] == "metric_title"
    assert spec["facet"]["sort"] == ["Train loss", "Test accuracy (%)"]
    assert spec["resolve"]["scale"]["y"] == "independent" and len(rows(spec)) == len(df)
    accuracy = [r["value"] for r in rows(spec) if r["metric"] == "test_acc"]
    np.testing.assert_allclose(accuracy, df.loc[df["metric"] == "test_acc", "value"] * 100)  # accuracies in %


# ----------------------------------------------------------------------------- Fig 6 and images


def profile_frame(epochs: int, classes: int, true: int = 3) -> pd.DataFrame:
    probs = np.random.default_rng(0).dirichlet(np.ones(classes), size=epochs)
    return pd.DataFrame({"epoch": np.repeat(np.arange(1, epochs + 1, dtype=float), classes),
                         "class_index": np.tile(np.arange(classes), epochs), "class_name": np.tile([f"c{i}" for i in range(classes)], epochs),
                         "probability": probs.ravel(), "is_true": np.tile(np.arange(classes) == true, epochs),
                         "global_acc": np.repeat(np.linspace(0.1, 0.9, epochs), classes)})


def drawn_profile(spec: dict) -> pd.DataFrame:
    """What Vega draws for a :func:`profiles.learning_profile_view` spec: one row per (epoch, class) of its area.

    Renders with vl-convert (the Vega runtime) after turning the area into points, whose ARIA labels
    carry each datum's fields, so the spec's own transforms (lookup, flattens, calculations) are what
    is checked. Columns: epoch, class_name, probability (3 decimals), stack_order, global accuracy.
    """
    import vl_convert

    spec = json.loads(json.dumps(spec))
    area = next(n for n in nodes(spec) if n.get("mark") in ("area", {"type": "area", "opacity": 0.85}))
    area["mark"] = {"type": "point"}
    del area["encoding"]["y"]["axis"]["format"]  # the tooltip's .3f then labels the probability
    svg = vl_convert.vegalite_to_svg(spec)
    labels = [dict(kv.split(": ", 1) for kv in label.split("; "))
              for label in re.findall(r'aria-label="([^"]*)"', svg) if "class_name: " in label]
    frame = pd.DataFrame(labels)
    numbers = ["epoch", "probability", "stack_order", "global accuracy"]
    return frame.assign(**{c: frame[c].str.replace("−", "-").astype(float) for c in numbers})


def test_learning_profile_rows_are_compact_and_exact_to_a_permille() -> None:
    df = profile_frame(7, 10, true=2)
    image, group = profiles.learning_profile_rows(df)
    assert image["true_class"] == 2 and image["classes"] == list(range(10))
    np.testing.assert_array_equal(image["permille"], np.rint(df["probability"].to_numpy().reshape(7, 10) * 1000))
    assert group == {"epoch": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "accuracy": list(np.round(np.linspace(0.1, 0.9, 7), 4))}
    with pytest.raises(ValueError, match="true class"):
        profiles.learning_profile_rows(df.assign(is_true=False))


def test_learning_profile_chart_draws_every_class_at_every_point_in_vega() -> None:
    df = profile_frame(12, 100)  # CIFAR-100: 1,200 (point, class) values, unfolded in the browser from one compact row
    spec = profiles.learning_profile_chart(df, title="x").to_dict()
    assert len(rows(spec)) == 2  # the image row and its group row; neither Altair's row limit nor size grows with T x C
    drawn = drawn_profile(spec).sort_values(["epoch", "class_name"], key=lambda s: s.map(
        lambda v: int(v[1:]) if isinstance(v, str) else v)).reset_index(drop=True)
    assert len(drawn) == 1200
    np.testing.assert_allclose(drawn["probability"], df["probability"], atol=5.1e-4)  # per-mille data, 3-decimal labels
    assert list(drawn["class_name"]) == list(df["class_name"])
    assert (drawn["stack_order"] == np.where(df["is_true"], -1, df["class_index"])).all()  # the true class at the bottom
    np.testing.assert_allclose(drawn["global accuracy"], df["global_acc"], atol=6e-4)  # 4 decimals, labelled with 3
    area, true_line, acc_line = units(spec)
    assert area["type"] == "area" and area["encoding"]["y"]["stack"] == "zero" and area["encoding"]["order"]["field"] == "stack_order"
    assert true_line["transform"][-1] == {"filter": "datum.is_true"} and true_line["encoding"]["y"]["field"] == "probability"
    assert acc_line["encoding"]["y"]["field"] == "accuracy" and acc_line["mark"]["strokeDash"]
    assert area["encoding"]["color"]["legend"] is None  # 100 classes: no legend


def test_learning_profile_chart_names_the_true_class_and_fixes_class_colours() -> None:
    spec = profiles.learning_profile_chart(profile_frame(10, 10, true=4)).to_dict()
    assert spec["title"]["text"] == "Learning profile (true class: c4)"
    color = units(spec)[0]["encoding"]["color"]
    assert color["legend"]["title"] == "Class" and color["scale"]["domain"] == [f"c{i}" for i in range(10)]
    top = profile_frame(3, 10, true=4).query("class_index in (1, 4)")  # a top-k frame: two classes and the summed rest
    rest = top.groupby("epoch", as_index=False).first().assign(class_index=-1, class_name="other", is_true=False,
                                                                probability=lambda d: 1 - top.groupby("epoch")["probability"].sum().to_numpy())
    top = pd.concat([top, rest]).sort_values(["epoch", "class_index"], kind="stable")
    spec = profiles.learning_profile_chart(top).to_dict()
    assert units(spec)[0]["encoding"]["color"]["scale"]["domain"] == ["0", "c1", "2", "3", "c4", "other"]
    assert set(drawn_profile(spec)["class_name"]) == {"c1", "c4", "other"}


def test_image_chart_embeds_a_nearest_neighbour_upscale() -> None:
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    spec = profiles.image_chart(image, scale=3, title="cat").to_dict()
    (unit,) = units(spec)
    assert unit["type"] == "image" and spec["width"] == spec["height"] == 96
    url = rows(spec)[0]["url"]
    assert url == profiles.png_data_url(image, 3) and url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, image.repeat(3, axis=0).repeat(3, axis=1))
    with pytest.raises(ValueError, match="uint8"):
        profiles.image_chart(image.astype(np.float32))
    with pytest.raises(ValueError, match="scale"):
        profiles.png_bytes(image, 0)


def test_charts_compose_side_by_side() -> None:
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    spec = alt.hconcat(profiles.image_chart(image), profiles.learning_profile_chart(profile_frame(5, 10))).to_dict()
    assert len(spec["hconcat"]) == 2


def test_bad_frames_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['std'\].*neg_accuracy_curves"):
        plots.neg_accuracy_chart(curves().drop(columns="std"))
    with pytest.raises(ValueError, match="empty"):
        plots.cifar_c_chart(cifar_c_frame().iloc[:0])


# ----------------------------------------------------------------------------- files


def test_save_chart_writes_offline_html_and_png(tmp_path) -> None:
    df = pd.concat([cifar_c_frame(), cifar_c_frame().assign(dataset="cifar100")], ignore_index=True)
    html, png = plots.save_chart(plots.cifar_c_chart(df), tmp_path / "fig5.v1")
    assert (html.name, png.name) == ("fig5.v1.html", "fig5.v1.png")
    text = html.read_text()
    assert "vegaEmbed" in text and "cdn.jsdelivr" not in text and "<script src=" not in text
    assert len(text) > 100_000  # the Vega, Vega-Lite and vega-embed code is inlined
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert width > 700 and height > 200  # two panels side by side, at scale factor 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig5.v1.html", "fig5.v1.png"]  # no temporary leftovers
