"""SVHN through the dataset table: torchvision's .mat files, written here in the released layout, read as
torchvision reads them, and a run on them whose records, analyses and claims work without NEG or CIFAR-C."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from atlib.data import load_dataset
from atlib.datasets import DATASET_INFO
from tinydata import tiny_config


def write_svhn_mat(path: Path, images: np.ndarray, digits: np.ndarray) -> Path:
    """One split in the released layout: X uint8 (32, 32, 3, N), y uint8 (N, 1) with digit 0 stored as 10."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(path, {"X": np.ascontiguousarray(images.transpose(1, 2, 3, 0)), "y": stored})
    return path


def learnable_digits(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose digit is a tint (learnable in a few steps), as (N, 32, 32, 3) HWC and digits 0..9."""
    rng = np.random.default_rng(seed)
    palette = np.random.default_rng(0).integers(0, 136, size=(10, 3))
    digits = np.repeat(np.arange(10), n_per_class)
    rng.shuffle(digits)
    images = (rng.integers(0, 120, size=(len(digits), 32, 32, 3)) + palette[digits][:, None, None, :]).astype(np.uint8)
    return images, digits


def write_svhn(root: Path, n_train: int = 24, n_test: int = 8) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sets = {"train": learnable_digits(n_train, 1), "test": learnable_digits(n_test, 2)}
    for split, (images, digits) in sets.items():
        write_svhn_mat(root / f"{split}_32x32.mat", images, digits)
    return sets


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATLIB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_table_entry() -> None:
    info = DATASET_INFO["svhn"]
    assert (info.title, info.classes, info.image_size) == ("SVHN", tuple("0123456789"), 32)
    assert (info.train_size, info.test_size) == (73_257, 26_032)
    assert not info.has_neg and not info.has_corrupted
    assert info.normalization == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # as Rice et al. 2020's train_svhn.py


def test_svhn_models_normalise_with_its_statistics() -> None:
    import torch

    from atlib.models import build_model

    model = build_model("small_cnn", 10, dataset="svhn")
    assert torch.equal(model.normalize.mean.flatten(), torch.tensor([0.5, 0.5, 0.5]))


def test_loads_as_torchvision_reads_the_same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    # torchvision's own reader of the same files (its checksums are those of the released files: skipped)
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)
    sets = write_svhn(tmp_path / "root")
    for split, (images, digits) in sets.items():
        loaded = load_dataset("svhn", split, root=tmp_path / "root")
        assert loaded.images.dtype == np.uint8 and loaded.images.shape == (len(digits), 32, 32, 3)
        assert np.array_equal(loaded.images, images) and np.array_equal(loaded.labels, digits)
        assert loaded.labels.dtype == np.int64 and 0 in loaded.labels and 10 not in loaded.labels
        reference = torchvision.datasets.SVHN(str(tmp_path / "root"), split=split)
        for k in (0, len(digits) // 2, len(digits) - 1):
            image, label = reference[k]
            assert np.array_equal(np.asarray(image), loaded.images[k]) and label == loaded.labels[k]


def test_found_in_a_named_subfolder_of_atlib_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sets = write_svhn(tmp_path / "all-data" / "SVHN")
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "all-data"))
    assert np.array_equal(load_dataset("svhn", "test").labels, sets["test"][1])


def test_an_explicit_root_without_it_names_the_files(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    write_svhn_mat(tmp_path / "mine" / "train_32x32.mat", *learnable_digits(2, 0))  # train only
    assert len(load_dataset("svhn", "train", root=tmp_path / "mine").labels) == 20
    with pytest.raises(FileNotFoundError, match=r"(?s)svhn test split not found.*train_32x32.mat and test_32x32.mat"):
        load_dataset("svhn", "test", root=tmp_path / "mine")


def test_download_goes_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    asked = []

    def fake_svhn(root: str, split: str, download: bool) -> None:
        asked.append((root, split, download))
        write_svhn_mat(Path(root) / f"{split}_32x32.mat", *learnable_digits(1, 0))

    monkeypatch.setattr(torchvision.datasets, "SVHN", fake_svhn)
    assert len(load_dataset("svhn", "test").labels) == 10
    assert asked == [(str(tmp_path / "data"), "test", True)]


@pytest.mark.parametrize(("content", "message"), [
    (b"MATLAB 5.0 MAT-file, truncated", "corrupt or incomplete"),
    ({"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1), np.uint8)}, r"X is uint8 \(28, 28, 3, 2\)"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1), np.uint8)}, "y has 3 labels"),
    ({"images": np.zeros((32, 32, 3, 2), np.uint8)}, r"expected variables X and y; found \['images'\]"),
    ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]], np.uint8)}, r"labels must lie in \[0, 9\]"),
])
def test_damaged_files_are_named(content: object, message: str, tmp_path: Path) -> None:
    path = tmp_path / "root" / "test_32x32.mat"
    path.parent.mkdir()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        scipy.io.savemat(path, content)
    with pytest.raises(ValueError, match=message) as err:
        load_dataset("svhn", "test", root=tmp_path / "root")
    assert str(path) in str(err.value)


@pytest.mark.slow
def test_an_svhn_run_trains_records_and_is_analysed_without_neg_or_cifar_c(tmp_path: Path) -> None:
    from atlib import analysis
    from atlib.claims.report import claims_report
    from atlib.store.runs import group_seeds, load_run
    from atlib.train import train

    root = tmp_path / "svhn"
    sets = write_svhn(root)
    synthetic = tmp_path / "generated.npz"
    np.savez(synthetic, image=learnable_digits(4, 3)[0], label=learnable_digits(4, 3)[1])
    runs = [load_run(train(tiny_config(root, tmp_path / "runs", dataset="svhn", method=method, epochs=2, neg_path=None,
                                       **extra)).path)
            for method, extra in (("nt", {}), ("at", {}), ("nt", {"synthetic": str(synthetic), "synthetic_fraction": 0.25}))]
    for run in runs:
        assert run.complete and run.num_points == 4 and not run.has("neg")
        assert run.meta["inputs"]["data_root"] == str(root.resolve()) and run.meta["inputs"]["neg_path"] is None
        assert np.array_equal(run.labels("test"), sets["test"][1])
        assert np.array_equal(analysis.eval_images(run, "test"), sets["test"][0])
    assert runs[0].metrics["clean_acc"] > 0.5  # the tint is learnable: training really ran on these files
    groups = group_seeds(runs)
    notes = analysis.describe_missing(groups)
    assert "no NEG set exists for SVHN: the NEG figures leave it out" in notes
    assert "no corrupted version (CIFAR-C) exists for SVHN: the corruption figures leave it out" in notes
    assert not any(n.startswith(("CIFAR-10-NEG not recorded", "CIFAR-C not evaluated")) for n in notes)
    assert set(analysis.dataset_class_names("svhn", 10)) == set("0123456789")
    report = claims_report(groups, workers=1)
    by_id = {c.id: c for c in report.claims}
    assert {c.dataset for c in report.claims} == {"svhn"}
    assert by_id["4a"].reason == "no NEG: CIFAR-10-NEG is a CIFAR-10 set"
    assert "no CIFAR-C: no corrupted version exists for SVHN" in by_id["5b"].reason
    # with a config that asks for NEG or CIFAR-C, the run refuses to start, naming what is absent
    with pytest.raises(ValueError, match="SVHN has no NEG set"):
        train(tiny_config(root, tmp_path / "runs2", dataset="svhn", neg_path=str(tmp_path / "x.npz")))
    with pytest.raises(ValueError, match="svhn has no corrupted version"):
        train(tiny_config(root, tmp_path / "runs3", dataset="svhn", neg_path=None, cifar_c_root="auto"))
