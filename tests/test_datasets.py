"""The dataset table: every per-dataset fact comes from it, so a new entry (here a fake 16x16 dataset)
loads, trains and records with no other change."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atlib.datasets import DATASET_INFO, DatasetInfo, dataset_info, title
from tinydata import REPO, tiny_config

TINY16 = DatasetInfo("tiny16", "Tiny-16", ("a", "b", "c", "d"), 16, mean=(0.4, 0.4, 0.4), std=(0.25, 0.25, 0.25),
                     reader="atlib.data.cifar", train_size=48, test_size=16, source="written by the test")


def test_the_table_is_consistent() -> None:
    for name, info in DATASET_INFO.items():
        assert info.name == name and info.num_classes == len(set(info.classes)) >= 2
        assert info.image_shape == (info.image_size, info.image_size, 3)
        assert all(0 < m < 1 for m in info.mean) and all(0 < s < 1 for s in info.std)
        assert info.train_size > info.test_size > 0
        __import__(info.reader)  # the reader it names exists
    assert DATASET_INFO["cifar10"].has_neg and DATASET_INFO["cifar10"].corrupted == "CIFAR-10-C"
    assert not DATASET_INFO["cifar100"].has_neg and DATASET_INFO["cifar100"].corrupted == "CIFAR-100-C"
    assert (title("cifar10"), title("cifar100"), title("other")) == ("CIFAR-10", "CIFAR-100", "other")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; expected one of cifar10, cifar100"):
        dataset_info("mnist")


def test_the_table_and_the_config_import_neither_torch_nor_numpy() -> None:
    import subprocess
    import sys

    code = "import sys, atlib.datasets, atlib.config; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_no_module_outside_the_table_names_a_dataset_fact() -> None:
    """The CIFAR-10-only NEG check, the normalisation constants, the titles and the 32-pixel shape live in
    atlib/datasets.py only (readers of the CIFAR formats excepted: the official pickles are 32x32 by definition)."""
    for path in (REPO / "atlib").rglob("*.py"):
        if path.name == "datasets.py" and path.parent.name == "atlib":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value in DATASET_INFO
                                                     for c in [node.left, *node.comparators]):
                pytest.fail(f"{path}:{node.lineno} compares with a dataset name; read atlib.datasets instead")
        text = path.read_text()
        for name in ("IMAGE_SHAPE: tuple", "NORMALIZATION", "DATASET_TITLES", "0.4914", "cifar_root\"]"):
            assert name not in text, f"{path} holds {name}"


def write_tiny16(root: Path) -> Path:
    """An ImageFolder of 16x16 images in 4 learnable classes (class = tint)."""
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 136, size=(4, 3))
    for split, per_class in (("train", 12), ("test", 4)):
        for c, name in enumerate(TINY16.classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray((rng.integers(0, 120, size=(16, 16, 3)) + palette[c]).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def tiny16(monkeypatch: pytest.MonkeyPatch) -> DatasetInfo:
    monkeypatch.setitem(DATASET_INFO, "tiny16", TINY16)
    return TINY16


def test_a_new_entry_loads_at_its_own_size(tiny16: DatasetInfo, tmp_path: Path) -> None:
    from atlib.data import load_dataset

    write_tiny16(tmp_path / "root")
    test = load_dataset("tiny16", "test", root=tmp_path / "root")
    assert test.images.shape == (16, 16, 16, 3) and test.classes == TINY16.classes
    assert test.labels.tolist() == [k for k in range(4) for _ in range(4)]
    # a 32x32 image in a 16x16 dataset is refused, naming the size the table gives
    Image.new("RGB", (32, 32)).save(tmp_path / "root" / "train" / "a" / "big.png")
    with pytest.raises(ValueError, match="must be 16x16 RGB"):
        load_dataset("tiny16", "train", root=tmp_path / "root")


@pytest.mark.slow
def test_a_new_16px_entry_trains_records_and_shows(tiny16: DatasetInfo, tmp_path: Path) -> None:
    from atlib import analysis
    from atlib.explorer.profileset import ProfileSet
    from atlib.store.runs import load_run
    from atlib.train import train

    root = write_tiny16(tmp_path / "data")
    config = tiny_config(root, tmp_path / "runs", dataset="tiny16", method="at", epochs=2, neg_path=None,
                         robust_eval_n=8, train_probe_size=8)
    run = load_run(train(config).path)
    assert run.complete and run.num_points == 4 and run.meta["inputs"]["data_root"] == str(root.resolve())
    assert run.probs("test").shape == (4, 16, 4) and not run.has("neg")
    assert analysis.eval_images(run, "test").shape == (16, 16, 16, 3)
    assert run.metrics["clean_acc"] > 0.5  # the tint is learnable at 16 pixels too
    profiles = ProfileSet.load([run], "test")
    assert profiles.image_size == 16 and profiles.class_names == list(TINY16.classes)


def test_svhn_style_absent_extras_are_said_so(tiny16: DatasetInfo) -> None:
    """A dataset without NEG or a corrupted version: asking for them is a clear error, not a silent skip."""
    from atlib.data.extra import corrupted_info

    with pytest.raises(ValueError, match="tiny16 has no corrupted version"):
        corrupted_info("tiny16")
    assert dataclasses.replace(tiny16, corrupted="X-C").has_corrupted and not tiny16.has_neg
