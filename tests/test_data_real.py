"""The real CIFAR-10 JPEG archive and CIFAR-10-NEG from the shared data folder (skipped when absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import atlib.data.cifar as cifar_module
from atlib.data import ImageSet, load_cifar10_neg, load_dataset
from atlib.datasets import DATASET_INFO


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict[str, ImageSet]:
    """Both splits of the real archive, decoded once for the module (about 30 s on one core)."""
    return {split: load_dataset("cifar10", split, root=shared_data) for split in ("train", "test")}


@pytest.mark.slow
def test_real_archive_sizes_and_classes(real: dict[str, ImageSet]) -> None:
    for split, per_class in (("train", 5000), ("test", 1000)):
        images, labels, classes = real[split]
        assert images.shape == (10 * per_class, 32, 32, 3) and images.dtype == np.uint8
        assert classes == DATASET_INFO["cifar10"].classes
        assert np.bincount(labels).tolist() == [per_class] * 10
        # ImageFolder order: by class, so labels are sorted
        assert np.array_equal(labels, np.repeat(np.arange(10), per_class))
    # real photographs, not a constant fill
    assert 80 < real["test"].images.mean() < 160 and real["test"].images.std() > 40


@pytest.mark.slow
def test_real_test_order_matches_the_official_order_map(real: dict[str, ImageSet], shared_data: Path) -> None:
    """Row class*1000 + n holds test/<class>/n.jpg (sorted by class, then file name); the extracts'
    map from official index to JPEG file then puts the JPEG rows in the official order."""
    extracts = shared_data / "official-extracts"
    if not extracts.is_dir():
        pytest.skip(f"{extracts} not found")
    with open(extracts / "cifar10_test_official_order_to_jpeg.csv") as f:
        table = list(csv.DictReader(f))
    classes = list(DATASET_INFO["cifar10"].classes)
    rows = np.array([classes.index(r["class"]) * 1000 + int(Path(r["jpeg_path"]).stem) for r in table])
    assert sorted(rows.tolist()) == list(range(10000))
    images, labels, _ = real["test"]
    assert np.array_equal(labels[rows], np.load(extracts / "cifar10_test_labels_official_order.npy"))
    with np.load(extracts / "cifar10_test_official_first1017.npz") as z:
        exact = z["data"].astype(np.float32)
    jpeg = np.asarray(images[rows[: len(exact)]], dtype=np.float32)
    error = np.abs(jpeg - exact).mean(axis=(1, 2, 3))
    shifted = np.abs(np.asarray(images[(rows[: len(exact)] + 1) % 10000], dtype=np.float32) - exact).mean(axis=(1, 2, 3))
    assert error.max() < 15, "each JPEG row is the lossy copy of its official image"
    assert np.median(shifted) > 4 * np.median(error), "neighbouring rows are other images"


@pytest.mark.slow
def test_real_second_load_comes_from_the_cache(real: dict[str, ImageSet], shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cifar_module, "read_image_folder", lambda *a: pytest.fail("decoded again"))
    again = load_dataset("cifar10", "train", root=shared_data)
    assert isinstance(again.images, np.memmap)
    assert np.array_equal(again.images, real["train"].images) and np.array_equal(again.labels, real["train"].labels)


def test_real_cifar10_neg(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not (shared_data / "CIFAR10_neg.npz").is_file():
        pytest.skip(f"CIFAR10_neg.npz not in {shared_data}")
    images, labels, classes = load_cifar10_neg(shared_data / "CIFAR10_neg.npz")
    assert images.shape == (1000, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [100] * 10
    assert classes == DATASET_INFO["cifar10"].classes
    # the default search finds it through $ATLIB_DATA
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATLIB_DATA", str(shared_data))
    assert np.array_equal(load_cifar10_neg().images, images)
