"""atlib.setting: one identity per setting. Names, labels and order of NT/AT runs as before the table,
a new method as one table entry that names, sorts, colours and fills frames, distinct colour families."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlib import analysis, config as config_module, plots, setting
from atlib.plots import robustness, style
from atlib.config import TrainConfig
from atlib.store.runs import RunGroup, group_seeds, load_run, load_runs
from atlib import methods
from atlib.methods import Method, Param
from atlib.setting import Setting, method_info, method_names
from fakeruns import make_run, random_probs
from test_plots import color_map

EPSILONS = (1.0, 2.0, 2.5, 4.0, 8.0, 16.0, 32.0)


# ----------------------------------------------------------------------------- NT/AT as before


def former_run_name(c: TrainConfig) -> str:
    """``TrainConfig.run_name`` before Setting (atlib 0.1), the reference stored runs were named by."""
    method = "nt" if c.method == "nt" else f"at{c.epsilon_255:g}"
    synth = f"_{c.synthetic_tag}{c.synthetic_fraction:g}" if c.uses_synthetic else ""
    return f"{c.dataset}_{c.model}_{method}{synth}_s{c.seed}"


def former_label(c: TrainConfig) -> str:
    """``runs.config_label`` before Setting."""
    return ("NT" if c.method == "nt" else f"AT ε={c.epsilon_255:g}/255") + (f" + {c.synthetic_tag}" if c.uses_synthetic else "")


def nt_at_configs() -> list[TrainConfig]:
    configs = [TrainConfig(method="nt", dataset=d, model=m, seed=s) for d in ("cifar10", "cifar100") for m in ("resnet18", "small_cnn")
               for s in (0, 7)]
    configs += [TrainConfig(method="at", epsilon_255=e, seed=s) for e in EPSILONS for s in (0, 3)]
    synth = dict(synthetic="/data/1m.npz")
    configs += [TrainConfig(method=m, epsilon_255=8, synthetic_fraction=f, synthetic_tag=t, **synth)
                for m in ("nt", "at") for f in (0.0, 0.3, 0.5) for t in ("synth", "standin")]
    return configs


def test_nt_and_at_run_names_and_labels_are_unchanged() -> None:
    assert TrainConfig(method="nt").run_name == "cifar10_resnet18_nt_s0"
    assert TrainConfig(synthetic="x.npz").run_name == "cifar10_resnet18_at8_synth0.5_s0"
    assert TrainConfig(epsilon_255=2.5, seed=4, dataset="cifar100", model="small_cnn").run_name == "cifar100_small_cnn_at2.5_s4"
    assert TrainConfig(name="mine").run_name == "mine"
    assert Setting.of(TrainConfig(synthetic="x.npz")).label == "AT ε=8/255 + synth"
    assert Setting.of(TrainConfig(method="nt", synthetic="x.npz", synthetic_tag="standin")).label == "NT + standin"
    for c in nt_at_configs():
        assert c.run_name == former_run_name(c)
        assert Setting.of(c).label == former_label(c)


def test_series_is_the_label_without_epsilon() -> None:
    labels = {Setting.of(c).label: Setting.of(c).series for c in nt_at_configs() if c.dataset == "cifar10"}
    assert labels["AT ε=8/255 + synth"] == "AT + synth" and labels["AT ε=2.5/255"] == "AT" and labels["NT + standin"] == "NT + standin"


def test_nt_and_at_order_is_unchanged() -> None:
    """NT first, then AT by ε, original data before synthesized, as group_seeds sorted before Setting."""
    configs = nt_at_configs()
    former = sorted(configs, key=lambda c: (c.dataset, c.method != "nt", c.epsilon_255, c.uses_synthetic, c.model))
    assert sorted(configs, key=lambda c: Setting.of(c).sort_key) == former


def test_nt_and_at_colours_are_unchanged() -> None:
    """The former style.label_color, with its constants, as the reference."""
    ramps = {False: ("#f4845f", "#d7301f", "#a50f15", "#4d0008"), True: ("#74a9cf", "#2b8cbe", "#045a8d", "#012a4a")}

    def former(method: str, eps: float, synthetic: bool) -> str:
        if method == "nt":
            return {False: "#1b7837", True: "#7fbc41"}[synthetic]
        stops = ramps[synthetic]
        pos = float(np.clip(math.log2(max(eps, 1e-9)) / 4.0, 0.0, 1.0)) * (len(stops) - 1)
        lo = int(min(pos, len(stops) - 2))
        a, b = (np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) for c in stops[lo:lo + 2])
        return "#" + "".join(f"{v:02x}" for v in np.rint(a + (b - a) * (pos - lo)).astype(int))

    for method, eps, synthetic in itertools.product(("nt", "at"), (*EPSILONS, 0.5, 3.0, 12.0), (False, True)):
        assert style.label_color(method, eps, synthetic) == former(method, eps, synthetic)


# ----------------------------------------------------------------------------- identity


def test_setting_ignores_seed_execution_fields_and_the_synthetic_path() -> None:
    base = TrainConfig(synthetic="/old/place/1m.npz", seed=0)
    moved = base.replace(seed=3, synthetic="/new/place/1m.npz", device="cpu", out_dir="elsewhere", data_root="/d",
                         neg_path="/n.npz", compile=True, progress=False, name="custom", dist_timeout_min=5.0)
    assert Setting.of(moved) == Setting.of(base) and hash(Setting.of(moved)) == hash(Setting.of(base))
    for change in (dict(epsilon_255=4.0), dict(lr=0.05), dict(synthetic=None), dict(synthetic_fraction=0.3), dict(model="small_cnn"),
                   dict(synthetic_tag="standin")):
        assert Setting.of(base.replace(**change)) != Setting.of(base), change


def test_external_runs_are_told_apart_by_their_folder_name() -> None:
    a = TrainConfig(method="external", source="external", name="cifar10_resnet18_external_a")
    assert Setting.of(a) == Setting.of(a.replace(seed=1, device="cpu"))
    assert Setting.of(a) != Setting.of(a.replace(name="cifar10_resnet18_external_b"))
    assert Setting.of(a).label == "External cifar10_resnet18_external_a"


def test_runs_group_by_setting_across_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probs, labels = random_probs(rng, 2, 6, 10), rng.integers(0, 10, 6)
    make_run(tmp_path / "a", TrainConfig(epochs=2, synthetic="/old/1m.npz", seed=0), probs, labels)
    make_run(tmp_path / "b", TrainConfig(epochs=2, synthetic="/new/1m.npz", seed=1, device="cpu"), probs, labels)
    make_run(tmp_path / "b", TrainConfig(epochs=2, seed=1), probs, labels)
    groups = group_seeds(load_runs([tmp_path / "a", tmp_path / "b"]))
    assert [(g.label, g.seeds) for g in groups] == [("AT ε=8/255", [1]), ("AT ε=8/255 + synth", [0, 1])]
    assert groups[1].setting == Setting.of(groups[1].runs[1].config)
    with pytest.raises(ValueError, match="one setting"):
        RunGroup([groups[0].runs[0], groups[1].runs[0]])


# ----------------------------------------------------------------------------- the variants' entries


def test_variants_are_named_by_method_and_parameters() -> None:
    trades = TrainConfig(method="trades")
    assert (Setting.of(trades).label, trades.run_name) == ("TRADES β=6 ε=8/255", "cifar10_resnet18_trades8_beta6_s0")
    ema = TrainConfig(method="trades", ema_decay=0.999)
    assert (Setting.of(ema).label, ema.run_name) == ("TRADES β=6 ε=8/255 + EMA 0.999", "cifar10_resnet18_trades8_beta6_ema0.999_s0")
    mart = TrainConfig(method="mart", epsilon_255=2, mart_beta=5.0)
    assert (Setting.of(mart).label, mart.run_name) == ("MART β=5 ε=2/255", "cifar10_resnet18_mart2_beta5_s0")
    fgsm = TrainConfig(method="fgsm_rs", seed=2)
    assert (Setting.of(fgsm).label, fgsm.run_name) == ("FGSM-RS ε=8/255", "cifar10_resnet18_fgsm_rs8_s2")
    awp = TrainConfig(synthetic="x.npz", awp_gamma=0.01)
    assert (Setting.of(awp).label, awp.run_name) == ("AT ε=8/255 + AWP γ=0.01 + synth", "cifar10_resnet18_at8_awp0.01_synth0.5_s0")
    assert Setting.of(awp).series == "AT + AWP γ=0.01 + synth"
    warm = TrainConfig(method="trades", awp_gamma=0.005, awp_warmup=10)
    assert (Setting.of(warm).label, warm.run_name) == ("TRADES β=6 ε=8/255 + AWP γ=0.005 + warm-up 10",
                                                       "cifar10_resnet18_trades8_beta6_awp0.005_warmup10_s0")
    zero = TrainConfig(awp_gamma=0.0)  # another group than plain AT (though it trains alike): another label
    assert (Setting.of(zero).label, zero.run_name) == ("AT ε=8/255 + AWP γ=0", "cifar10_resnet18_at8_awp0_s0")
    assert Setting.of(TrainConfig(method="trades", trades_beta=1.0)) != Setting.of(trades)


def test_stored_configs_from_before_the_variants_keep_their_setting() -> None:
    """A config.json written before the variants' fields existed reads back (their defaults) as the same setting and run name."""
    for config in (TrainConfig(method="nt", seed=2), TrainConfig(epsilon_255=2, synthetic="s.npz")):
        stored = {k: v for k, v in config.to_dict().items() if k not in ("trades_beta", "mart_beta", "awp_gamma", "awp_warmup", "ema_decay")}
        old = TrainConfig.from_dict(stored)
        assert Setting.of(old) == Setting.of(config) and old.run_name == config.run_name == former_run_name(config)


def test_order_is_nt_then_at_by_epsilon_original_first_then_other_methods() -> None:
    configs = [
        TrainConfig(method="fgsm_rs", epsilon_255=2), TrainConfig(method="external", source="external", name="ext"),
        TrainConfig(epsilon_255=8, awp_gamma=0.01), TrainConfig(method="trades", epsilon_255=8),
        TrainConfig(epsilon_255=8, synthetic="s.npz"), TrainConfig(method="mart", epsilon_255=2), TrainConfig(epsilon_255=16),
        TrainConfig(method="nt", synthetic="s.npz"), TrainConfig(method="trades", epsilon_255=2), TrainConfig(epsilon_255=2),
        TrainConfig(epsilon_255=8), TrainConfig(method="nt"), TrainConfig(method="nt", dataset="cifar100"),
    ]
    ordered = [Setting.of(c).label for c in sorted(configs, key=lambda c: Setting.of(c).sort_key)]
    assert ordered == ["NT", "NT + synth", "AT ε=2/255", "AT ε=8/255", "AT ε=8/255 + AWP γ=0.01", "AT ε=8/255 + synth",
                       "AT ε=16/255", "TRADES β=6 ε=2/255", "TRADES β=6 ε=8/255", "MART β=6 ε=2/255", "FGSM-RS ε=2/255",
                       "External ext", "NT"]
    # The charts order a frame's labels the same way, from its columns alone.
    frame = pd.DataFrame([{**Setting.of(c).columns(), "n_seeds": 1} for c in reversed(configs) if c.dataset == "cifar10"])
    assert style.color_scale(frame).domain == ordered[:-1]


def test_every_config_method_has_an_entry_and_unknown_ones_say_where_to_add_them() -> None:
    assert set(config_module.METHODS) == set(method_names()) and all(method_info(m) for m in method_names())
    with pytest.raises(ValueError, match="add it to atlib.methods.METHODS"):
        setting.kind_key("sgd", 0.0, False)


# ----------------------------------------------------------------------------- colours


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def test_colour_families_are_distinct_per_method() -> None:
    """No colour of one method's family (any ε, either data) comes within 40 RGB units of another's."""
    colours = {m: [style.label_color(m, e, s) for e in (1, 2, 4, 8, 16) for s in (False, True)] for m in method_names()}
    for a, b in itertools.combinations(method_names(), 2):
        closest = min(np.linalg.norm(_rgb(x) - _rgb(y)) for x in colours[a] for y in colours[b])
        assert closest > 40, (a, b, closest)
    lightness = [_rgb(style.label_color("trades", e, False)).sum() for e in (1, 2, 4, 8, 16)]
    assert lightness == sorted(lightness, reverse=True)  # within a family: stronger attack, darker


def test_variants_of_one_family_at_one_epsilon_get_distinct_shades() -> None:
    at, awp = TrainConfig(), TrainConfig(awp_gamma=0.01)
    frame = pd.DataFrame([{**Setting.of(c).columns(), "n_seeds": 1} for c in (at, awp)])
    scale = style.color_scale(frame)
    assert scale.domain == ["AT ε=8/255", "AT ε=8/255 + AWP γ=0.01"]
    assert scale.range[0] == style.label_color("at", 8, False) != scale.range[1]
    assert scale.range[1] == setting.mix(scale.range[0], "#ffffff", style.TWIN_LIGHTEN)


# ----------------------------------------------------------------------------- a new method is one entry


def test_a_new_method_is_one_table_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An entry of the methods table (and its colours) is all a method needs besides its loss: its label, run
    name, order, colours and frame columns follow. ``lr`` stands in for a method parameter."""
    monkeypatch.setitem(methods.METHODS, "fake", Method("fake", "FAKE", adversarial=True, bn_mode="eval", passes=1,
                                                         attack_passes="pgd", reference="-", params=(Param("lr", "lr={:g}", "lr"),)))
    monkeypatch.setitem(setting.RAMPS, "fake", (("#00e5ff", "#006064"), None))
    fake = TrainConfig(method="fake", epsilon_255=4, lr=0.05, epochs=3)
    assert fake.run_name == "cifar10_resnet18_fake4_lr0.05_s0"
    assert (Setting.of(fake).label, Setting.of(fake).series) == ("FAKE lr=0.05 ε=4/255", "FAKE lr=0.05")
    assert Setting.of(fake).family == ("#00e5ff", "#006064")
    assert style.label_color("fake", 1, False) == "#00e5ff" and style.label_color("fake", 16, False) == "#006064"
    assert style.label_color("fake", 16, True) == setting.mix("#006064", "#ffffff", setting._LIGHTEN)
    assert style.series_color("fake", False) == "#006064"
    assert "fake" not in robustness.without_epsilon()  # drawn over ε in Fig 5-style charts, not as a reference line

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 8)
    for config in (fake, fake.replace(seed=1), TrainConfig(method="external", source="external", name="ext", epochs=3), TrainConfig(method="nt", epochs=3)):
        make_run(tmp_path, config, random_probs(rng, 3, 8, 10), labels)
    groups = group_seeds(load_runs(tmp_path))
    assert [g.label for g in groups] == ["NT", "FAKE lr=0.05 ε=4/255", "External ext"]  # last of the table, before external runs
    curves = analysis.mean_entropy_curves(groups)
    row = curves[curves["method"] == "fake"].iloc[0]
    assert {k: row[k] for k in ("label", "series", "epsilon_255", "data", "n_seeds")} == {
        "label": "FAKE lr=0.05 ε=4/255", "series": "FAKE lr=0.05", "epsilon_255": 4.0, "data": "original", "n_seeds": 2}
    assert list(curves.columns[:len(analysis.ID_COLUMNS)]) == list(analysis.ID_COLUMNS)
    assert color_map(plots.mean_entropy_chart(curves).to_dict())["FAKE lr=0.05 ε=4/255"] == style.label_color("fake", 4, False)
    assert load_run(tmp_path / fake.run_name).label == "FAKE lr=0.05 ε=4/255"

