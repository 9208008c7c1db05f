"""Generated (synthetic) data, CIFAR-C, CIFAR-10-NEG files and validate_image_set, on files written here."""

from __future__ import annotations

import gc
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

import atlib.data.npzmap as npzmap
from atlib.data import (
    load_cifar10_neg,
    load_cifar_c,
    load_synthetic,
    validate_image_set,
)
from atlib.data.cache import cache_dir
from atlib.datasets import CIFAR_C_COMMON, CIFAR_C_CORRUPTIONS, DATASET_INFO

REPO = Path(__file__).resolve().parents[1]
ROW = 32 * 32 * 3


def pattern_rows(rows: np.ndarray) -> np.ndarray:
    """Images whose pixels are a known function of their row: (row + position) % 251."""
    return ((np.asarray(rows)[:, None] + np.arange(ROW)) % 251).astype(np.uint8).reshape(-1, 32, 32, 3)


def pattern(start: int, stop: int) -> np.ndarray:
    return pattern_rows(np.arange(start, stop))


def pattern_labels(n: int) -> np.ndarray:
    return (np.arange(n) * 7) % 10


def write_npz_streamed(path: Path, n: int, compression: int = zipfile.ZIP_STORED, chunk: int = 20_000) -> None:
    """An ``np.savez``-compatible file of ``pattern`` images written chunk by chunk, as a real
    1M-image file would have to be, so the test never holds the whole array."""
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=1 if compression else None) as zf:
        with zf.open("image.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (n, 32, 32, 3)})
            for start in range(0, n, chunk):
                f.write(pattern(start, min(n, start + chunk)).tobytes())
        with zf.open("label.npy", "w") as f:
            np.lib.format.write_array(f, pattern_labels(n))


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory from /proc/self/status: VmRSS (all) or RssAnon (private, i.e. copies)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


# --- synthetic data --------------------------------------------------------------------------------


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_synthetic_small_file_round_trips(save, tmp_path: Path) -> None:
    images, labels = pattern(0, 500), pattern_labels(500).astype(np.int32)
    save(tmp_path / "gen.npz", image=images, label=labels)
    loaded = load_synthetic(tmp_path / "gen.npz", num_classes=10)
    assert isinstance(loaded.images, np.memmap) and not loaded.images.flags.writeable
    assert np.array_equal(loaded.images, images)
    assert loaded.labels.dtype == np.int64 and np.array_equal(loaded.labels, labels)
    assert loaded.classes == tuple(str(k) for k in range(10))
    assert load_synthetic(tmp_path / "gen.npz").classes == tuple(str(k) for k in range(10))  # max label + 1


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read resident memory")
def test_large_uncompressed_file_is_memory_mapped_not_read(tmp_path: Path) -> None:
    n = 100_000  # 307 MB of pixels
    write_npz_streamed(tmp_path / "big.npz", n)
    gc.collect()
    before, anon_before = rss_mb(), rss_mb("RssAnon")
    images, labels, _ = load_synthetic(tmp_path / "big.npz", num_classes=10)
    after_open = rss_mb()
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = np.sort(rng.choice(n, 128, replace=False))
        assert np.array_equal(images[rows], pattern_rows(rows))
    anon_growth = rss_mb("RssAnon") - anon_before
    assert images.shape == (n, 32, 32, 3) and np.array_equal(labels[-5:], pattern_labels(n)[-5:])
    assert Path(images.filename).resolve() == (tmp_path / "big.npz").resolve(), "mapped in place, no copy"
    assert after_open - before < 50, f"opening raised RSS by {after_open - before:.0f} MB"
    # Touched rows are file pages: recent kernels map whole large folios around each one (VmRSS can
    # then approach the file size), but they are shared page cache the kernel reclaims at will.
    # What must stay small is private memory, i.e. nothing copied the file.
    assert anon_growth < 50, f"touching 20 batches made {anon_growth:.0f} MB of private memory"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read resident memory")
def test_compressed_file_is_converted_once_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 50_000  # 154 MB of pixels, a few MB compressed
    write_npz_streamed(tmp_path / "gen.npz", n, zipfile.ZIP_DEFLATED)
    gc.collect()
    before = rss_mb("RssAnon")
    images, labels, _ = load_synthetic(tmp_path / "gen.npz")
    assert rss_mb("RssAnon") - before < 80, "the conversion streams; it never holds the whole array"
    assert Path(images.filename).is_relative_to(cache_dir()) and Path(images.filename).suffix == ".npy"
    rows = np.array([0, 1, 12_345, n - 1])
    assert np.array_equal(images[rows], pattern_rows(rows))
    assert np.array_equal(labels, pattern_labels(n))
    # a second open maps the cached copy without converting again
    monkeypatch.setattr(npzmap.shutil, "copyfileobj", lambda *a: pytest.fail("converted twice"))
    assert load_synthetic(tmp_path / "gen.npz").images.filename == images.filename
    assert not [p for p in Path(images.filename).parent.iterdir() if p.name.startswith(".")], "no temporary left"


def test_synthetic_wrong_keys_names_the_format(tmp_path: Path) -> None:
    np.savez(tmp_path / "gen.npz", x=pattern(0, 3), y=np.zeros(3, int))
    with pytest.raises(ValueError, match=r"'image' uint8 \(N, 32, 32, 3\) and 'label'.*found keys \['x', 'y'\]"):
        load_synthetic(tmp_path / "gen.npz", image_size=32)
    with pytest.raises(ValueError, match=r"'image' uint8 \(N, S, S, 3\)"):
        load_synthetic(tmp_path / "gen.npz")


def test_synthetic_images_must_have_the_datasets_size(tmp_path: Path) -> None:
    np.savez(tmp_path / "gen.npz", image=np.zeros((4, 16, 16, 3), np.uint8), label=np.arange(4))
    assert load_synthetic(tmp_path / "gen.npz", image_size=16).images.shape == (4, 16, 16, 3)
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\).*images are uint8 \(4, 16, 16, 3\)"):
        load_synthetic(tmp_path / "gen.npz", image_size=32)


@pytest.mark.parametrize(("images", "labels", "message"), [
    (np.zeros((4, 3, 32, 32), np.uint8), np.zeros(4, int), r"images are uint8 \(4, 3, 32, 32\)"),
    (np.zeros((4, 32, 32, 3), np.float32), np.zeros(4, int), r"images are float32 \(4, 32, 32, 3\)"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.float64), r"labels are float64 \(4,\)"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 1), int), r"labels are int64 \(4, 1\)"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.zeros(5, int), "4 images but 5 labels"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.array([0, 1, 10, 2]), r"labels must lie in \[0, 9\].*\[0, 10\]"),
    (np.zeros((4, 32, 32, 3), np.uint8), np.array([0, -1, 3, 2]), r"labels must lie in \[0, 9\].*\[-1, 3\]"),
])
def test_synthetic_bad_contents(images: np.ndarray, labels: np.ndarray, message: str, tmp_path: Path) -> None:
    np.savez(tmp_path / "gen.npz", image=images, label=labels)
    with pytest.raises(ValueError, match=message) as err:
        load_synthetic(tmp_path / "gen.npz", num_classes=10, image_size=32)
    assert "'image' uint8 (N, 32, 32, 3)" in str(err.value) and str(tmp_path / "gen.npz") in str(err.value)


def test_synthetic_not_a_zip_or_missing(tmp_path: Path) -> None:
    (tmp_path / "gen.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a valid .npz file"):
        load_synthetic(tmp_path / "gen.npz")
    with pytest.raises(FileNotFoundError, match="'image' uint8"):
        load_synthetic(tmp_path / "absent.npz")


# --- CIFAR-C ---------------------------------------------------------------------------------------


def write_cifar_c(folder: Path, n: int, corruptions: tuple[str, ...] = ("fog", "contrast")) -> dict[str, np.ndarray]:
    """A CIFAR-C folder for a test set of n images: severity s is pattern rows offset by s."""
    folder.mkdir(parents=True)
    labels = pattern_labels(n)
    np.save(folder / "labels.npy", np.tile(labels, 5))
    written = {}
    for k, name in enumerate(corruptions):
        written[name] = np.concatenate([pattern(1000 * s + k, 1000 * s + k + n) for s in range(1, 6)])
        np.save(folder / f"{name}.npy", written[name])
    return written


def test_cifar_c_severity_blocks(tmp_path: Path) -> None:
    n = 40
    written = write_cifar_c(tmp_path / "CIFAR-10-C", n)
    for s in range(1, 6):
        images, labels, classes = load_cifar_c("cifar10", "fog", s, root=tmp_path)
        assert np.array_equal(images, written["fog"][(s - 1) * n : s * n])
        assert labels.dtype == np.int64 and np.array_equal(labels, pattern_labels(n))
        assert classes == DATASET_INFO["cifar10"].classes
    everything = load_cifar_c("cifar10", "contrast", root=tmp_path)
    assert isinstance(everything.images, np.memmap) and np.array_equal(everything.images, written["contrast"])
    assert np.array_equal(everything.labels, np.tile(pattern_labels(n), 5))


def test_cifar_c_folder_itself_as_root_and_env_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_cifar_c(tmp_path / "CIFAR-100-C", 10)
    direct = load_cifar_c("cifar100", "fog", 2, root=tmp_path / "CIFAR-100-C")
    assert np.array_equal(direct.images, written["fog"][10:20]) and direct.classes == DATASET_INFO["cifar100"].classes
    monkeypatch.chdir(tmp_path / "CIFAR-100-C")  # ./data does not exist here
    monkeypatch.setenv("ATLIB_DATA", str(tmp_path))
    assert np.array_equal(load_cifar_c("cifar100", "fog", 5).images, written["fog"][40:])
    with pytest.raises(FileNotFoundError, match=r"(?s)CIFAR-10-C not found.*ATLIB_DATA"):
        load_cifar_c("cifar10", "fog", 1)  # a CIFAR-100-C folder is never taken for CIFAR-10-C


def test_cifar_c_bad_requests(tmp_path: Path) -> None:
    write_cifar_c(tmp_path / "CIFAR-10-C", 10)
    with pytest.raises(ValueError, match="unknown corruption 'blur'.*gaussian_noise.*saturate"):
        load_cifar_c("cifar10", "blur", 1, root=tmp_path)
    for bad in (0, 6, "3"):
        with pytest.raises(ValueError, match="severity must be one of 1..5 or None"):
            load_cifar_c("cifar10", "fog", bad, root=tmp_path)
    with pytest.raises(FileNotFoundError, match="has no snow.npy"):
        load_cifar_c("cifar10", "snow", 1, root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_cifar_c("mnist", "fog", 1, root=tmp_path)


@pytest.mark.parametrize("damage", ["rows", "labels", "range", "dtype"])
def test_cifar_c_bad_files(damage: str, tmp_path: Path) -> None:
    folder = tmp_path / "CIFAR-10-C"
    write_cifar_c(folder, 10)
    if damage == "rows":
        np.save(folder / "labels.npy", np.zeros(48, int))
        np.save(folder / "fog.npy", np.zeros((48, 32, 32, 3), np.uint8))
        message = "48 rows is not 5 severities"
    elif damage == "labels":
        np.save(folder / "labels.npy", np.arange(50) % 7)
        message = "five severity blocks must repeat the same labels"
    elif damage == "range":
        np.save(folder / "labels.npy", np.full(50, 10))
        message = r"labels must lie in \[0, 9\]"
    else:
        np.save(folder / "fog.npy", np.zeros((50, 32, 32, 3), np.float32))
        message = "images are float32"
    with pytest.raises(ValueError, match=message):
        load_cifar_c("cifar10", "fog", 1, root=tmp_path)


def test_cifar_c_names_follow_the_spec_table() -> None:
    assert len(CIFAR_C_CORRUPTIONS) == 19 and len(set(CIFAR_C_CORRUPTIONS)) == 19
    assert CIFAR_C_COMMON == tuple(c for c in CIFAR_C_CORRUPTIONS if c not in {"speckle_noise", "gaussian_blur", "spatter", "saturate"})
    spec = REPO.parent / "shared" / "specs" / "cifar-c-parameters.md"
    if not spec.exists():
        pytest.skip(f"{spec} not found: cannot compare with the published table")
    table = re.findall(r"^\| \d+ \| (\w+) \|", spec.read_text(), flags=re.MULTILINE)
    assert tuple(table) == CIFAR_C_CORRUPTIONS


# --- CIFAR-10-NEG files ----------------------------------------------------------------------------


def test_neg_from_folder_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_shared_data: None) -> None:
    np.savez(tmp_path / "CIFAR10_neg.npz", data=pattern(0, 20), labels=pattern_labels(20))
    images, labels, classes = load_cifar10_neg(tmp_path)
    assert np.array_equal(images, pattern(0, 20)) and np.array_equal(labels, pattern_labels(20))
    assert classes == DATASET_INFO["cifar10"].classes
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATLIB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"(?s)CIFAR10_neg.npz not found in:.*data.*ATLIB_DATA"):
        load_cifar10_neg()
    (tmp_path / "data").mkdir()
    (tmp_path / "CIFAR10_neg.npz").rename(tmp_path / "data" / "CIFAR10_neg.npz")
    assert np.array_equal(load_cifar10_neg().labels, pattern_labels(20))  # found in ./data
    np.savez(tmp_path / "wrong.npz", image=pattern(0, 2), label=[0, 1])
    with pytest.raises(ValueError, match=r"expected keys 'data'.*'labels'.*found \['image', 'label'\]"):
        load_cifar10_neg(tmp_path / "wrong.npz")
    np.savez(tmp_path / "range.npz", data=pattern(0, 2), labels=[0, 12])
    with pytest.raises(ValueError, match=r"CIFAR-10-NEG.*labels must lie in \[0, 9\]"):
        load_cifar10_neg(tmp_path / "range.npz")


def test_validate_image_set_accepts_good_sets() -> None:
    validate_image_set(pattern(0, 3), np.array([0, 9, 5], np.uint8), 10, "ok")
    validate_image_set(pattern(0, 3), np.array([0, 99, 5]), None, "no class count")
    with pytest.raises(ValueError, match="empty"):
        validate_image_set(pattern(0, 0), np.zeros(0, int), 10, "empty set")
    with pytest.raises(ValueError, match=r"my set: .*images are list"):
        validate_image_set([[0]], np.zeros(1, int), 10, "my set")


# --- the zip CRC of an uncompressed synthesized file -------------------------------------------------------


def test_content_hash_checks_the_crc_a_memory_map_skips(tmp_path: Path) -> None:
    import hashlib

    from atlib.data.npzmap import content_hash

    path = tmp_path / "gen.npz"
    np.savez(path, image=pattern(0, 40), label=pattern_labels(40))
    assert content_hash(path, chunk=4096) == hashlib.sha256(path.read_bytes()).hexdigest()  # members span chunks
    damaged = bytearray(path.read_bytes())
    offset = bytes(damaged).index(pattern(0, 40).tobytes()[:64]) + 1000  # a pixel of image.npy
    damaged[offset] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert load_synthetic(path).images.shape == (40, 32, 32, 3)  # the memory map alone does not notice
    with pytest.raises(ValueError, match=r"gen.npz: image.npy fails its zip CRC check \(the file is damaged"):
        content_hash(path, chunk=4096)
    (tmp_path / "plain.bin").write_bytes(b"not a zip")
    assert content_hash(tmp_path / "plain.bin") == hashlib.sha256(b"not a zip").hexdigest()
