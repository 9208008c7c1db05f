"""load_dataset on every accepted CIFAR layout, built here from exact pieces of the official release."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import atlib.data.cifar as cifar_module
from conftest import shared_data_dir
from atlib.data import ImageSet, load_dataset
from atlib.data.cache import cache_dir
from atlib.datasets import DATASET_INFO

REPO = Path(__file__).resolve().parents[1]
EXTRACTS = (shared_data_dir() or REPO.parent / "shared" / "data") / "official-extracts"
if not EXTRACTS.is_dir():
    pytest.skip(f"official extracts not found at {EXTRACTS}: set ATLIB_DATA", allow_module_level=True)


# --- fixtures in the exact official format -------------------------------------------------------


def _rows(images: np.ndarray) -> np.ndarray:
    """HWC images → the official (N, 3072) CHW rows."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def _dump(path: Path, entry: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)


def cifar10_expected(n: int) -> dict[str, ImageSet]:
    """Real CIFAR-10 pixels: test = the first n (<= 1017) official test rows; train = the first
    n - n % 5 of them split over data_batch_1..5 (exact train rows are not available offline)."""
    with np.load(EXTRACTS / "cifar10_test_official_first1017.npz") as z:
        images, labels = z["data"][:n], z["labels"][:n]
    classes, n_train = DATASET_INFO["cifar10"].classes, min(n, 1000) // 5 * 5
    return {"train": ImageSet(images[:n_train], labels[:n_train], classes), "test": ImageSet(images, labels, classes)}


def cifar100_expected(n: int) -> dict[str, ImageSet]:
    """Real CIFAR-100 rows: the first n (<= 1117) train and n (<= 916) test rows, fine labels."""
    sets = {}
    for split, file in (("train", "cifar100_train_official_first1117.npz"), ("test", "cifar100_test_official_first916.npz")):
        with np.load(EXTRACTS / file) as z:
            sets[split] = ImageSet(z["data"][:n], z["fine_labels"][:n], DATASET_INFO["cifar100"].classes)
    return sets


def expected_sets(name: str, n: int = 2000) -> dict[str, ImageSet]:
    return {"cifar10": cifar10_expected, "cifar100": cifar100_expected}[name](n)


def write_official(root: Path, name: str, n: int = 2000) -> Path:
    """The official python layout of ``expected_sets(name, n)`` under ``root``; returns its folder."""
    sets = expected_sets(name, n)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        shutil.copy(EXTRACTS / "cifar-10-batches-py_batches.meta", folder / "batches.meta")
        train, size = sets["train"], len(sets["train"].labels) // 5
        for i in range(5):
            part = slice(size * i, size * (i + 1))
            _dump(folder / f"data_batch_{i + 1}", {
                "batch_label": f"training batch {i + 1} of 5", "labels": train.labels[part].tolist(),
                "data": _rows(train.images[part]), "filenames": [f"img_{k}.png" for k in range(size)]})
        test = sets["test"]
        _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": test.labels.tolist(),
                                      "data": _rows(test.images), "filenames": [f"t_{k}.png" for k in range(len(test.labels))]})
        return folder
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    shutil.copy(EXTRACTS / "cifar-100-python_meta", folder / "meta")
    for split, file in (("train", "cifar100_train_official_first1117.npz"), ("test", "cifar100_test_official_first916.npz")):
        with np.load(EXTRACTS / file) as z:
            rows = slice(len(sets[split].labels))
            _dump(folder / split, {
                "filenames": [f"f_{k}.png" for k in range(rows.stop)],
                "batch_label": f"{split}ing batch 1 of 1", "fine_labels": z["fine_labels"][rows].tolist(),
                "coarse_labels": z["coarse_labels"][rows].tolist(), "data": _rows(z["data"][rows])})
    return folder


def write_image_folder(folder: Path, name: str, n: int = 300) -> dict[str, ImageSet]:
    """PNG ImageFolder of ``expected_sets(name, n)``; returns the sets in the documented order
    (class, then file name). Files are written in reverse, so creation order cannot pass for sorting."""
    expected = {}
    for split, data in expected_sets(name, n).items():
        for c in data.classes:
            (folder / split / c).mkdir(parents=True)  # every class folder, even one without images
        counts = np.zeros(len(data.classes), dtype=int)
        names = []
        for label in data.labels:
            names.append(f"{counts[label]:04d}.png")
            counts[label] += 1
        for k in reversed(range(len(data.labels))):
            Image.fromarray(data.images[k]).save(folder / split / data.classes[data.labels[k]] / names[k])
        order = np.argsort(data.labels, kind="stable")
        expected[split] = ImageSet(data.images[order], data.labels[order], data.classes)
    return expected


def write_archive(path: Path, source: Path, arcname: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"compresslevel": 1} if path.name.endswith(".gz") else {"preset": 0}
    with tarfile.open(path, f"w:{path.name.rsplit('.', 1)[1]}", **options) as tar:
        tar.add(source, arcname=arcname)
    return path


def cache_entries(kind: str) -> set[str]:
    """Names (hidden temporary ones included) in one part of the session's cache."""
    folder = cache_dir(kind)
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def assert_same(loaded: ImageSet, expected: ImageSet) -> None:
    assert loaded.images.dtype == np.uint8 and loaded.images.shape == expected.images.shape
    assert loaded.labels.dtype == np.int64
    assert np.array_equal(loaded.images, expected.images)
    assert np.array_equal(loaded.labels, expected.labels)
    assert loaded.classes == tuple(expected.classes)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No $ATLIB_DATA, and ./data inside this test's own folder."""
    monkeypatch.delenv("ATLIB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def never_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every torchvision download fail as it does offline; returns the roots it was asked for."""
    import torchvision.datasets

    asked: list[str] = []

    def offline(root: str, **kwargs: object) -> None:
        asked.append(root)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    return asked


# --- layouts ---------------------------------------------------------------------------------------


def test_class_names_equal_official_meta_and_are_sorted() -> None:
    with open(EXTRACTS / "cifar-10-batches-py_batches.meta", "rb") as f:
        assert tuple(pickle.load(f, encoding="latin1")["label_names"]) == DATASET_INFO["cifar10"].classes
    with open(EXTRACTS / "cifar-100-python_meta", "rb") as f:
        assert tuple(pickle.load(f, encoding="latin1")["fine_label_names"]) == DATASET_INFO["cifar100"].classes
    # sorted class folders therefore give the official label indices
    for name in ("cifar10", "cifar100"):
        assert list(DATASET_INFO[name].classes) == sorted(DATASET_INFO[name].classes)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_official_layout_keeps_official_order(name: str, tmp_path: Path) -> None:
    write_official(tmp_path / "root", name)
    for split, expected in expected_sets(name).items():
        loaded = load_dataset(name, split, root=tmp_path / "root")
        assert_same(loaded, expected)
    if name == "cifar10":  # the documented first official test labels
        assert load_dataset(name, "test", root=tmp_path / "root").labels[:5].tolist() == [3, 8, 8, 0, 6]


def test_official_folder_itself_as_root_or_in_a_named_subfolder(tmp_path: Path) -> None:
    folder = write_official(tmp_path, "cifar100")
    assert_same(load_dataset("cifar100", "test", root=folder), expected_sets("cifar100")["test"])
    write_official(tmp_path / "elsewhere" / "CIFAR-10", "cifar10")
    assert_same(load_dataset("cifar10", "test", root=tmp_path / "elsewhere"), expected_sets("cifar10")["test"])


@pytest.mark.parametrize(("name", "subfolder"), [("cifar10", ""), ("cifar10", "cifar-10"), ("cifar100", "CIFAR100")])
def test_image_folder_sorted_by_class_then_file_name(name: str, subfolder: str, tmp_path: Path) -> None:
    expected = write_image_folder(tmp_path / "root" / subfolder, name)
    for split in ("train", "test"):
        assert_same(load_dataset(name, split, root=tmp_path / "root"), expected[split])


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("layout", ["official", "imagefolder-top", "imagefolder-nested"])
@pytest.mark.parametrize("suffix", ["tar.gz", "tar.xz"])
def test_archive_of_each_layout_is_extracted_once(name: str, layout: str, suffix: str, tmp_path: Path) -> None:
    staging, root = tmp_path / "staging", tmp_path / "root"
    root.mkdir()
    if layout == "official":
        expected = expected_sets(name, 100)
        folder = write_official(staging, name, 100)
        archive_name = {"cifar10": "cifar-10-python", "cifar100": "cifar-100-python"}[name]
        archive = write_archive(root / f"{archive_name}.{suffix}", folder, folder.name)
    else:
        expected = write_image_folder(staging, name, 100)
        arcname = name if layout == "imagefolder-nested" else "."
        archive = write_archive(root / f"{name}-png.{suffix}", staging, arcname)
    before = cache_entries("archives")
    for split in ("train", "test"):
        assert_same(load_dataset(name, split, root=root), expected[split])
    new_entries = cache_entries("archives") - before
    assert len(new_entries) == 1, "both splits share one extraction, and no temporary folder is left"
    assert new_entries.pop().startswith(archive.name.split(".tar")[0] + "-")


def test_cifar10_archive_pattern_does_not_take_cifar100(tmp_path: Path, no_shared_data: None) -> None:
    staging = tmp_path / "staging"
    write_archive(tmp_path / "cifar-100-python.tar.gz", write_official(staging, "cifar100"), "cifar-100-python")
    with pytest.raises(FileNotFoundError):
        load_dataset("cifar10", "test", root=tmp_path, download=False)
    assert_same(load_dataset("cifar100", "test", root=tmp_path), expected_sets("cifar100")["test"])


# --- where data is searched ------------------------------------------------------------------------


def test_sources_in_order_root_then_env_then_dot_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # three folders, each with a different (recognisable) layout of the same CIFAR-10 test split
    write_official(tmp_path / "explicit", "cifar10", 300)
    write_image_folder(tmp_path / "env", "cifar10")
    write_image_folder(tmp_path / "data" / "cifar10", "cifar10")  # ./data (cwd is tmp_path)
    (tmp_path / "data" / "cifar10" / "test" / "cat" / "0000.png").unlink()  # make ./data distinguishable
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    official_order = expected_sets("cifar10", 300)["test"].labels
    assert np.array_equal(load_dataset("cifar10", "test", root=tmp_path / "explicit").labels, official_order)
    from_env = load_dataset("cifar10", "test")
    assert np.array_equal(from_env.labels, np.sort(official_order))
    monkeypatch.delenv("ATLIB_DATA")
    assert len(load_dataset("cifar10", "test").labels) == len(official_order) - 1


@pytest.mark.parametrize("missing", ["absent", "empty"])
def test_an_explicit_root_without_the_data_is_an_error_not_a_fall_through(missing: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write_image_folder(tmp_path / "env", "cifar10")  # the data is there, but the user named another folder
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    asked = never_download(monkeypatch)
    root = tmp_path / "mine"
    if missing == "empty":
        root.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", "test", root=root)
    message = str(err.value)
    assert str(root) in message and str(tmp_path / "env") not in message
    assert "cifar-10-batches-py/" in message and "train/<class>/" in message and "only place searched" in message
    assert ("does not exist" in message) == (missing == "absent")
    assert asked == [], "nothing is downloaded into an explicit root"


def test_the_archive_itself_is_accepted_as_an_explicit_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = write_image_folder(tmp_path / "staging", "cifar10", 100)
    archive = write_archive(tmp_path / "any-name.tar.xz", tmp_path / "staging", ".")
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "elsewhere"))
    for split in ("train", "test"):
        assert_same(load_dataset("cifar10", split, root=archive), expected[split])


def test_an_explicit_root_with_the_wrong_class_count_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image_folder(tmp_path / "root", "cifar10", 100)
    shutil.rmtree(tmp_path / "root" / "test" / "truck")  # 9 class folders
    write_image_folder(tmp_path / "env", "cifar10", 100)
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    with pytest.raises(ValueError, match="9 class folders but cifar10 has 10"):
        load_dataset("cifar10", "test", root=tmp_path / "root")


def test_layout_priority_official_before_archive(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "staging", "cifar10")
    write_archive(tmp_path / "root" / "cifar10-png.tar.gz", tmp_path / "staging", ".")
    write_official(tmp_path / "root", "cifar10")
    before = cache_entries("archives")
    assert_same(load_dataset("cifar10", "test", root=tmp_path / "root"), expected_sets("cifar10")["test"])
    assert cache_entries("archives") == before, "the archive was not even extracted"


def test_image_folder_with_other_class_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image_folder(tmp_path / "env", "cifar10")
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    # directly in a searched folder it is simply not CIFAR-100...
    with pytest.raises(FileNotFoundError, match="cifar100 test split not found"):
        load_dataset("cifar100", "test", download=False)
    # ...but a folder named cifar100 holding 10 classes is an error
    shutil.copytree(tmp_path / "env", tmp_path / "named" / "cifar100")
    with pytest.raises(ValueError, match="10 class folders but cifar100 has 100"):
        load_dataset("cifar100", "test", root=tmp_path / "named")


# --- the decoded cache -----------------------------------------------------------------------------


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = write_image_folder(tmp_path / "root", "cifar10")["test"]
    first = load_dataset("cifar10", "test", root=tmp_path / "root")
    decode = cifar_module.read_image_folder
    monkeypatch.setattr(cifar_module, "read_image_folder", lambda *a: pytest.fail("decoded again"))
    second = load_dataset("cifar10", "test", root=tmp_path / "root")
    monkeypatch.setattr(cifar_module, "read_image_folder", decode)
    assert_same(first, expected)
    assert_same(second, expected)
    assert isinstance(second.images, np.memmap) and Path(second.images.filename).is_relative_to(cache_dir())
    # a new file changes its class folder's mtime: the source is decoded afresh
    Image.fromarray(expected.images[0]).save(tmp_path / "root" / "test" / "truck" / "9999.png")
    assert len(load_dataset("cifar10", "test", root=tmp_path / "root").labels) == len(expected.labels) + 1


def test_replaced_official_file_invalidates_the_cache(tmp_path: Path) -> None:
    folder = write_official(tmp_path, "cifar10")
    assert len(load_dataset("cifar10", "test", root=tmp_path).labels) == 1017
    with open(folder / "test_batch", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    _dump(folder / "test_batch", {**entry, "labels": entry["labels"][:10], "data": entry["data"][:10]})
    assert len(load_dataset("cifar10", "test", root=tmp_path).labels) == 10


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar1000'.*cifar10, cifar100"):
        load_dataset("cifar1000", "train")
    with pytest.raises(ValueError, match="unknown split 'val'.*train, test"):
        load_dataset("cifar10", "val")


def test_missing_data_without_download_names_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_shared_data: None) -> None:
    asked: list[Path] = []
    monkeypatch.setattr(cifar_module, "download", lambda info, root, split: asked.append(root))
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10", "train", download=False)
    message = str(err.value)
    for place in (tmp_path / "env", tmp_path / "data"):
        assert str(place) in message
    for text in ("cifar-10-batches-py/", "train/<class>/", "cifar-10-python.tar.gz", ".tar.xz", "$ATLIB_DATA", "download=False"):
        assert text in message
    assert asked == []


def test_offline_download_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = never_download(monkeypatch)
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar100", "test")
    message = str(err.value)
    assert asked == [str(tmp_path / "env")], "downloads go to the first searched folder"
    assert "Temporary failure in name resolution" in message and "URLError" in message
    assert "cifar-100-python/" in message and "$ATLIB_DATA" in message and str(tmp_path / "data") in message


def test_successful_download_is_then_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_shared_data: None) -> None:
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", lambda root, download: write_official(Path(root), "cifar10"))
    assert_same(load_dataset("cifar10", "test"), expected_sets("cifar10")["test"])
    assert (tmp_path / "data" / "cifar-10-batches-py").is_dir()


@pytest.mark.parametrize(("name", "raw", "target"), [
    ("cifar10", "cifar-10-batches-py_test_batch.TRUNCATED_first3MiB", "cifar-10-batches-py/test_batch"),
    ("cifar100", "cifar-100-python_test.TRUNCATED_first3MiB", "cifar-100-python/test"),
])
def test_truncated_official_pickle_says_corrupt_and_redownload(name: str, raw: str, target: str, tmp_path: Path) -> None:
    write_official(tmp_path, name)
    shutil.copy(EXTRACTS / "raw" / raw, tmp_path / target)
    with pytest.raises(ValueError, match=r"corrupt or incomplete.*re-download") as err:
        load_dataset(name, "test", root=tmp_path)
    assert str(tmp_path / target) in str(err.value)
    assert not [p for p in cache_entries("datasets") if p.startswith(".")], "a failed decode leaves nothing in the cache"


def test_pickle_with_foreign_globals_is_refused_not_run(tmp_path: Path) -> None:
    folder = write_official(tmp_path, "cifar10")
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple:  # would create the marker folder if unpickled without an allow-list
            return (os.mkdir, (str(marker),))

    _dump(folder / "test_batch", {"data": Evil()})
    with pytest.raises(ValueError, match="corrupt or incomplete"):
        load_dataset("cifar10", "test", root=tmp_path)
    assert not marker.exists()


def test_incomplete_official_folder_names_the_missing_file(tmp_path: Path) -> None:
    folder = write_official(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="missing data_batch_3.*cifar-10-python.tar.gz"):
        load_dataset("cifar10", "train", root=tmp_path)
    assert len(load_dataset("cifar10", "test", root=tmp_path).labels) == 1017  # test needs no train batch


def test_official_batch_with_wrong_row_size(tmp_path: Path) -> None:
    folder = write_official(tmp_path, "cifar10")
    _dump(folder / "test_batch", {"labels": [0, 1], "data": np.zeros((2, 1024), np.uint8)})
    with pytest.raises(ValueError, match=r"not an official CIFAR batch.*\(2, 1024\)"):
        load_dataset("cifar10", "test", root=tmp_path)


@pytest.mark.parametrize(("size", "mode"), [((28, 28), "RGB"), ((32, 32), "L"), ((32, 32), "RGBA")])
def test_image_folder_rejects_non_32x32_rgb(size: tuple[int, int], mode: str, tmp_path: Path) -> None:
    write_image_folder(tmp_path, "cifar10")
    bad = tmp_path / "test" / "dog" / "bad.png"
    Image.new(mode, size).save(bad)
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}.*must be 32x32 RGB"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_truncated_archive_says_corrupt(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "staging", "cifar10")
    archive = write_archive(tmp_path / "root" / "cifar10-png.tar.xz", tmp_path / "staging", ".")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    before = cache_entries("archives")
    with pytest.raises(ValueError, match="corrupt or incomplete.*re-download"):
        load_dataset("cifar10", "train", root=tmp_path / "root")
    assert cache_entries("archives") == before
