"""atlib.corruptions: every corruption against the published parameters and mechanics, the
release's uint8 cast, seeding, the written CIFAR-C layout and bad input.

References are computed here independently, in the creation script's own per-image style
(PIL, skimage, scipy, OpenCV calls), and compared with the batched implementation.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage import color, filters

from atlib.corruptions import BLOCK_SIZE, CORRUPTIONS, SEVERITIES, corrupt, generate_cifar_c
from atlib.corruptions.motion import motion_blur, motion_kernel
from atlib.corruptions.params import PARAMS
from atlib.corruptions.plasma import plasma_fractal
from atlib.corruptions.textures import frost_dir

REPO = Path(__file__).resolve().parents[1]
EXTRACT = "official-extracts/cifar10_test_official_first1017.npz"
NAMES = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip
DETERMINISTIC = {
    "defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
    "gaussian_blur", "saturate",
}  # fmt: skip
HAS_FROST = importlib.util.find_spec("imagecorruptions") is not None
HAS_DATA_LAYER = importlib.util.find_spec("atlib.data") is not None


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """12 real CIFAR-10 test images (official pixels) if the shared data is there, else random ones.

    Read-only, so any in-place change of the input by a corruption raises.
    """
    path = Path(os.environ.get("ATLIB_DATA", REPO.parent / "shared" / "data")) / EXTRACT
    if path.is_file():
        batch = np.load(path)["data"][:12].copy()
    else:
        batch = np.random.default_rng(0).integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    batch.setflags(write=False)
    return batch


def release(values: np.ndarray) -> np.ndarray:
    """The release's cast: ``np.uint8`` of the float result (truncation)."""
    return np.uint8(values)


NEEDS_FROST = pytest.mark.skipif(not HAS_FROST, reason="pip install --no-deps imagecorruptions==1.1.2")
ALL_CASES = [pytest.param(n, s, marks=[NEEDS_FROST] if n == "frost" else []) for n in NAMES for s in SEVERITIES]


# --- registry and parameters -------------------------------------------------------------------


def test_registry_holds_the_19_released_files_in_canonical_order() -> None:
    assert tuple(CORRUPTIONS) == NAMES
    assert set(PARAMS) == set(NAMES) and all(len(PARAMS[n]) == 5 for n in NAMES)
    if HAS_DATA_LAYER:
        from atlib.datasets import CIFAR_C_CORRUPTIONS

        assert tuple(CORRUPTIONS) == CIFAR_C_CORRUPTIONS


def test_zoom_factor_counts_follow_the_np_arange_float_quirk() -> None:
    factors = PARAMS["zoom_blur"]
    assert [len(f) for f in factors] == [7, 12, 16, 21, 26]
    assert np.allclose([f[-1] for f in factors], [1.06, 1.11, 1.15, 1.20, 1.25])


def test_elastic_parameters_are_fractions_of_32_with_alpha_0_at_severity_1() -> None:
    expected = [(0, 0, 2.56), (1.6, 6.4, 2.24), (2.56, 1.92, 1.92), (3.2, 1.28, 1.6), (3.2, 0.96, 0.96)]
    assert np.allclose(PARAMS["elastic_transform"], expected)


# --- every corruption and severity ---------------------------------------------------------------


@pytest.mark.parametrize("name, severity", ALL_CASES)
def test_output_format_range_and_seeding(images: np.ndarray, name: str, severity: int) -> None:
    out = corrupt(images, name, severity, seed=0)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(out, corrupt(images, name, severity, seed=0))
    assert np.array_equal(corrupt(images[0], name, severity, seed=0), corrupt(images[:1], name, severity, seed=0)[0])
    # a different seed changes exactly the random corruptions
    assert np.array_equal(out, corrupt(images, name, severity, seed=1)) == (name in DETERMINISTIC)
    if name in DETERMINISTIC:  # per image: the batch changes nothing
        assert np.array_equal(out[3], corrupt(images[3:4], name, severity, seed=0)[0])
    # the pre-cast values the release truncated: finite and inside [0, 255] (no wrap-around)
    raw = CORRUPTIONS[name](images, severity, np.random.default_rng(0))
    assert np.isfinite(raw).all() and raw.min() >= 0 and raw.max() <= 255


# Parameters that grow monotonically in strength (table in the spec). Left out: glass_blur (s4 has
# a smaller sigma than s3), motion_blur (s3 and s4 kernels are almost equal: sigma 2 cuts both
# well inside the radius, and the random angles then decide), snow / frost / elastic_transform /
# spatter (mixed parameters, e.g. spatter switches from water to mud at s4; frost's image weight
# and elastic's affine jitter fall), saturate (s1 0.3 and s2 0.1 desaturate, s3-s5 saturate).
MONOTONE = (
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "contrast", "brightness",
    "gaussian_blur", "zoom_blur", "pixelate", "jpeg_compression", "defocus_blur",
    "fog",  # strength grows and the plasma gets rougher (decay falls): both add fog
)  # fmt: skip


@pytest.mark.parametrize("name", MONOTONE)
def test_distance_from_clean_grows_with_severity(images: np.ndarray, name: str) -> None:
    distance = [np.abs(corrupt(images, name, s).astype(int) - images).mean() for s in SEVERITIES]
    assert distance[0] > 0
    assert all(a <= b for a, b in zip(distance, distance[1:])), distance


# --- exact values of the deterministic corruptions, against the script's per-image calls ---------


@pytest.mark.parametrize("severity", SEVERITIES)
def test_contrast_matches_the_formula(images: np.ndarray, severity: int) -> None:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    expected = []
    for image in images:
        x = image / 255.0
        means = np.mean(x, axis=(0, 1), keepdims=True)
        expected.append(release(np.clip((x - means) * c + means, 0, 1) * 255))
    assert np.array_equal(corrupt(images, "contrast", severity), np.stack(expected))


@pytest.mark.parametrize("name, channel", [("brightness", 2), ("saturate", 1)])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_brightness_and_saturate_match_skimage_hsv(images: np.ndarray, name: str, channel: int, severity: int) -> None:
    scale, offset = {
        "brightness": [(1, 0.05), (1, 0.1), (1, 0.15), (1, 0.2), (1, 0.3)],
        "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    }[name][severity - 1]
    expected = []
    for image in images:
        hsv = color.rgb2hsv(image / 255.0)
        hsv[:, :, channel] = np.clip(hsv[:, :, channel] * scale + offset, 0, 1)
        expected.append(release(np.clip(color.hsv2rgb(hsv), 0, 1) * 255))
    assert np.array_equal(corrupt(images, name, severity), np.stack(expected))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_pixelate_matches_pil_box_down_and_up(images: np.ndarray, severity: int) -> None:
    size = [30, 28, 27, 24, 20][severity - 1]
    box = Image.Resampling.BOX
    expected = [np.asarray(Image.fromarray(im).resize((size, size), box).resize((32, 32), box)) for im in images]
    assert np.array_equal(corrupt(images, "pixelate", severity), np.stack(expected))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_jpeg_matches_a_pil_round_trip(images: np.ndarray, severity: int) -> None:
    quality = [80, 65, 58, 50, 40][severity - 1]
    expected = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        expected.append(np.asarray(Image.open(buffer)))
    out = corrupt(images, "jpeg_compression", severity)
    assert np.array_equal(out, np.stack(expected)) and not np.array_equal(out, images)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_gaussian_blur_matches_skimage(images: np.ndarray, severity: int) -> None:
    sigma = [0.4, 0.6, 0.7, 0.8, 1.0][severity - 1]
    blurred = [filters.gaussian(im / 255.0, sigma=sigma, channel_axis=-1) for im in images]
    expected = [release(np.clip(b, 0, 1) * 255) for b in blurred]
    assert np.array_equal(corrupt(images, "gaussian_blur", severity), np.stack(expected))


def reference_disk(radius: float, alias_blur: float) -> np.ndarray:
    """The defocus kernel written out: disk on the 17x17 grid arange(-8, 9), normalised, 3x3 Gaussian."""
    grid = np.arange(-8, 9)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float32)
    return cv2.GaussianBlur(disk / disk.sum(), ksize=(3, 3), sigmaX=alias_blur)


def test_defocus_disk_shapes() -> None:
    """radius < 1: one pixel (kernel = the 3x3 Gaussian); 1: a 5-pixel cross; 1.5: a full 3x3."""
    support = [reference_disk(r, 1e-6)[7:10, 7:10] > 1e-3 for r in (0.5, 1, 1.5)]
    assert support[0].sum() == 1 and support[1].sum() == 5 and support[2].sum() == 9
    g = cv2.getGaussianKernel(3, 0.4)
    assert np.allclose(reference_disk(0.3, 0.4)[7:10, 7:10], g @ g.T, atol=1e-6)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_defocus_blur_matches_the_disk_kernel(images: np.ndarray, severity: int) -> None:
    radius, alias_blur = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    kernel = reference_disk(radius, alias_blur).astype(np.float64)
    # correlation with mirrored borders (OpenCV's default BORDER_REFLECT_101), per image and channel
    blurred = ndimage.correlate(images / 255.0, kernel[None, :, :, None], mode="mirror")
    expected = release(np.clip(blurred, 0, 1) * 255)
    out = corrupt(images, "defocus_blur", severity)
    diff = np.abs(out.astype(int) - expected)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float summation order only


def script_clipped_zoom(image: np.ndarray, zoom: float) -> np.ndarray:
    h = image.shape[0]
    crop = int(np.ceil(h / zoom))
    top = (h - crop) // 2
    zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (zoom, zoom, 1), order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim : trim + h, trim : trim + h]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_zoom_blur_matches_a_scipy_zoom_loop(images: np.ndarray, severity: int) -> None:
    end = [1.06, 1.11, 1.16, 1.21, 1.26][severity - 1]
    expected = []
    for image in images[:6]:
        x = (image / 255.0).astype(np.float32)
        out = np.zeros_like(x)
        for factor in np.arange(1, end, 0.01):
            out += script_clipped_zoom(x, factor)
        expected.append(release(np.clip((x + out) / (len(np.arange(1, end, 0.01)) + 1), 0, 1) * 255))
    diff = np.abs(corrupt(images[:6], "zoom_blur", severity).astype(int) - np.stack(expected))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float rounding only


# --- random corruptions: the batched mechanics against the script's loops on the same draws ------


@pytest.mark.parametrize("severity", SEVERITIES)
def test_glass_blur_reproduces_the_script_loop_and_its_view_aliasing(images: np.ndarray, severity: int) -> None:
    sigma, delta, iterations = PARAMS["glass_blur"][severity - 1]
    n = 4
    offsets_rng = np.random.default_rng(7)
    offsets = [offsets_rng.integers(-delta, delta, size=(30, 30, 2, n)) for _ in range(iterations)]
    expected = []
    for k, image in enumerate(images[:n]):
        x = np.uint8(filters.gaussian(image / 255.0, sigma=sigma, channel_axis=-1) * 255)
        for i in range(iterations):
            for a, h in enumerate(range(32 - delta, delta, -1)):
                for b, w in enumerate(range(32 - delta, delta, -1)):
                    dx, dy = offsets[i][a, b, :, k]
                    h_prime, w_prime = h + dy, w + dx
                    # the script's statement, verbatim semantics: on NumPy views it copies, not swaps
                    x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
        expected.append(release(np.clip(filters.gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255))
    out = release(CORRUPTIONS["glass_blur"](images[:n], severity, np.random.default_rng(7)))
    assert np.array_equal(out, np.stack(expected))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_elastic_transform_matches_per_image_warp_and_map_coordinates(images: np.ndarray, severity: int) -> None:
    alpha, sigma, affine = PARAMS["elastic_transform"][severity - 1]
    n = 5
    rng = np.random.default_rng(11)
    targets_all = rng.uniform(-affine, affine, size=(n, 3, 2)).astype(np.float32)
    fields = [rng.uniform(-1, 1, size=(n, 32, 32)) for _ in range(2)]
    expected = []
    for k, image in enumerate(images[:n]):
        x = np.array(image, dtype=np.float32) / 255.0
        centre = np.float32((32, 32)) // 2
        pts1 = np.float32([centre + 10, [centre[0] + 10, centre[1] - 10], centre - 10])
        matrix = cv2.getAffineTransform(pts1, pts1 + targets_all[k])
        x = cv2.warpAffine(x, matrix, (32, 32), borderMode=cv2.BORDER_REFLECT_101)
        dx, dy = (filters.gaussian(f[k], sigma, mode="reflect", truncate=3) * alpha for f in fields)
        dx, dy = dx.astype(np.float32)[..., None], dy.astype(np.float32)[..., None]
        cols, rows, chans = np.meshgrid(np.arange(32), np.arange(32), np.arange(3))
        indices = np.reshape(rows + dy, (-1, 1)), np.reshape(cols + dx, (-1, 1)), np.reshape(chans, (-1, 1))
        warped = ndimage.map_coordinates(x, indices, order=1, mode="reflect").reshape(32, 32, 3)
        expected.append(release(np.clip(warped, 0, 1) * 255))
    out = release(CORRUPTIONS["elastic_transform"](images[:n], severity, np.random.default_rng(11)))
    assert np.array_equal(out, np.stack(expected))


def test_motion_blur_is_imagemagicks_one_sided_gaussian_line(images: np.ndarray) -> None:
    """Angle 0 samples to the right, 90 downwards, with edge pixels repeated; width 2*ceil(r)+1."""
    assert [len(motion_kernel(r, s)) for r, s in PARAMS["motion_blur"]] == [13, 13, 13, 17, 19]
    kernel = np.exp(-np.arange(13.0) ** 2 / 2) / np.exp(-np.arange(13.0) ** 2 / 2).sum()
    assert np.allclose(motion_kernel(6, 1), kernel)
    x = images[:2].astype(np.float64)

    def shifted(rows: int, cols: int) -> np.ndarray:  # x[y + rows, x + cols], edge pixels repeated
        return x[:, np.minimum(np.arange(32) + rows, 31)][:, :, np.minimum(np.arange(32) + cols, 31)]

    def blurred(angle: float) -> np.ndarray:
        return motion_blur(images[:2], 6, 1, np.array([angle, angle]))

    def rounded(total: np.ndarray) -> np.ndarray:
        return np.floor(total + 0.5).astype(np.uint8)

    assert np.array_equal(blurred(0), rounded(sum(kernel[i] * shifted(0, i) for i in range(13))))
    assert np.array_equal(blurred(90), rounded(sum(kernel[i] * shifted(i, 0) for i in range(13))))
    # 45 degrees: both steps are i * cos(45) rounded half down (0, 1, 1, 2, 3, 4, 4, 5, ...)
    step = np.ceil(np.arange(13) * np.cos(np.pi / 4) - 0.5).astype(int)
    assert np.array_equal(blurred(45), rounded(sum(kernel[i] * shifted(step[i], step[i]) for i in range(13))))


def test_plasma_fractal_matches_the_scripts_diamond_square() -> None:
    """The batched port against the script's per-map version (same draws when n = 1)."""

    def script_plasma(mapsize: int, wibbledecay: float, rng: np.random.Generator) -> np.ndarray:
        def wibbledmean(array: np.ndarray, wibble: float) -> np.ndarray:
            return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

        maparray = np.empty((mapsize, mapsize), dtype=np.float64)
        maparray[0, 0] = 0
        stepsize, wibble = mapsize, 100.0
        while stepsize >= 2:
            s, h = stepsize, stepsize // 2
            cornerref = maparray[0:mapsize:s, 0:mapsize:s]
            squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
            squareaccum += np.roll(squareaccum, shift=-1, axis=1)
            maparray[h:mapsize:s, h:mapsize:s] = wibbledmean(squareaccum, wibble)
            drgrid, ulgrid = maparray[h:mapsize:s, h:mapsize:s], maparray[0:mapsize:s, 0:mapsize:s]
            ltsum = (drgrid + np.roll(drgrid, 1, axis=0)) + (ulgrid + np.roll(ulgrid, -1, axis=1))
            maparray[0:mapsize:s, h:mapsize:s] = wibbledmean(ltsum, wibble)
            ttsum = (drgrid + np.roll(drgrid, 1, axis=1)) + (ulgrid + np.roll(ulgrid, -1, axis=0))
            maparray[h:mapsize:s, 0:mapsize:s] = wibbledmean(ttsum, wibble)
            stepsize //= 2
            wibble /= wibbledecay
        maparray -= maparray.min()
        return maparray / maparray.max()

    for decay in (3, 1.75):
        ours = plasma_fractal(1, 32, decay, np.random.default_rng(5))[0]
        assert np.array_equal(ours, script_plasma(32, decay, np.random.default_rng(5)))
    maps = plasma_fractal(3, 32, 2, np.random.default_rng(0))
    assert np.allclose(maps.min(axis=(1, 2)), 0) and np.allclose(maps.max(axis=(1, 2)), 1)
    assert not np.allclose(maps[0], maps[1])


@NEEDS_FROST
def test_frost_uses_the_first_five_textures_shrunk_by_five() -> None:
    from atlib.corruptions.textures import FROST_FILES, frost_textures

    assert FROST_FILES == ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
    shapes = [(120, 180, 3), (63, 112, 3), (63, 112, 3), (70, 105, 3), (99, 132, 3)]  # the spec's W x H / 5
    assert [t.shape for t in frost_textures()] == shapes
    bgr = cv2.imread(str(frost_dir() / "frost4.jpg"))
    assert np.array_equal(frost_textures()[3], cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)[..., ::-1])


def test_frost_without_imagecorruptions_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps imagecorruptions==1\.1\.2"):
        frost_dir()


# --- the written layout ---------------------------------------------------------------------------


def read_back(folder: Path, name: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    if HAS_DATA_LAYER:
        from atlib.data import load_cifar_c

        data = load_cifar_c("cifar10", name, severity, root=folder)
        return np.asarray(data.images), np.asarray(data.labels)
    n = len(np.load(folder / "labels.npy")) // 5
    rows = slice((severity - 1) * n, severity * n)
    return np.load(folder / f"{name}.npy")[rows], np.load(folder / "labels.npy")[rows]


def test_generated_layout_round_trips_and_resumes(images: np.ndarray, tmp_path: Path) -> None:
    images, labels = images[:10], np.arange(10) % 10
    names = ["gaussian_noise", "contrast", "pixelate"]
    out = generate_cifar_c(images, labels, tmp_path, names[:2], seed=5, workers=1)
    assert out == tmp_path
    assert np.array_equal(np.load(tmp_path / "labels.npy"), np.tile(labels, 5))
    assert np.load(tmp_path / "labels.npy").dtype == np.int64
    for name in names[:2]:
        stored = np.load(tmp_path / f"{name}.npy")
        assert stored.shape == (50, 32, 32, 3) and stored.dtype == np.uint8
        for severity in SEVERITIES:
            rows, row_labels = read_back(tmp_path, name, severity)
            assert np.array_equal(rows, corrupt(images, name, severity, seed=5))
            assert np.array_equal(row_labels, labels)
    manifest = json.loads((tmp_path / "generation.json").read_text())
    assert manifest["seed"] == 5 and manifest["complete"] == names[:2]
    assert "ImageMagick" in manifest["motion_blur"] and manifest["libraries"]["numpy"] == np.__version__

    # resume: finished files are kept as they are, the missing one is added
    before = (tmp_path / "gaussian_noise.npy").stat().st_mtime_ns
    generate_cifar_c(images, labels, tmp_path, names, seed=5, workers=1)
    assert (tmp_path / "gaussian_noise.npy").stat().st_mtime_ns == before
    complete = json.loads((tmp_path / "generation.json").read_text())["complete"]
    assert complete == ["gaussian_noise", "contrast", "pixelate"]
    with pytest.raises(ValueError, match="seed=5"):
        generate_cifar_c(images, labels, tmp_path, names, seed=6, workers=1)


def test_process_pool_writes_exactly_what_corrupt_returns(images: np.ndarray, tmp_path: Path) -> None:
    generate_cifar_c(images[:6], np.zeros(6, int), tmp_path, ["fog", "glass_blur"], seed=2, workers=2)
    for name in ("fog", "glass_blur"):
        expected = np.concatenate([corrupt(images[:6], name, s, seed=2) for s in SEVERITIES])
        assert np.array_equal(np.load(tmp_path / f"{name}.npy"), expected)


def test_generation_split_into_blocks_writes_what_one_call_returns(images: np.ndarray, tmp_path: Path) -> None:
    batch = np.ascontiguousarray(np.broadcast_to(images[0], (BLOCK_SIZE + 2, 32, 32, 3)))
    generate_cifar_c(batch, np.zeros(len(batch), int), tmp_path, ["gaussian_noise"], seed=4, workers=1)
    expected = np.concatenate([corrupt(batch, "gaussian_noise", s, seed=4) for s in SEVERITIES])
    assert np.array_equal(np.load(tmp_path / "gaussian_noise.npy"), expected)
    # the second block has its own stream: its noise is not a repeat of the first block's
    first, second = expected[:2].astype(int) - batch[:2], expected[BLOCK_SIZE:BLOCK_SIZE + 2].astype(int) - batch[:2]
    assert not np.array_equal(first, second)


@pytest.mark.skipif(not HAS_DATA_LAYER, reason="atlib.data is not importable yet")
def test_cli_end_to_end_from_an_image_folder(images: np.ndarray, tmp_path: Path) -> None:
    from atlib.corruptions.__main__ import main
    from atlib.data import load_dataset

    root = tmp_path / "data"
    for k, image in enumerate(images[:10]):
        folder = root / "test" / f"class{k}"
        folder.mkdir(parents=True)
        Image.fromarray(image).save(folder / "0.png")
    out = tmp_path / "c"
    assert main(
        ["--dataset", "cifar10", "--out", str(out), "--root", str(root),
         "--corruptions", "contrast, pixelate", "--workers", "1", "--limit", "8"]
    ) == 0  # fmt: skip
    loaded = load_dataset("cifar10", "test", root)
    for name in ("contrast", "pixelate"):
        rows, labels = read_back(out, name, 2)
        assert np.array_equal(rows, corrupt(np.asarray(loaded.images[:8]), name, 2))
        assert np.array_equal(labels, loaded.labels[:8])
    assert not (out / "fog.npy").exists()


def test_cli_rejects_bad_arguments_with_usage_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "atlib.corruptions", "--dataset", "cifar10", "--out", str(tmp_path), "--limit", "0"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 2 and "--limit must be at least 1" in result.stderr


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 32, 32, 3), np.float32), "uint8"),
        (np.zeros((2, 3, 32, 32), np.uint8), r"\(N, 32, 32, 3\)"),
        (np.zeros((2, 28, 28, 3), np.uint8), r"\(N, 32, 32, 3\)"),
        (np.zeros((32, 32), np.uint8), r"\(N, 32, 32, 3\)"),
        (np.zeros((1, 2, 32, 32, 3), np.uint8), r"\(N, 32, 32, 3\)"),
        ([[[0, 0, 0]] * 32] * 32, "NumPy uint8 array"),
    ],
)
def test_bad_images_are_rejected(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corrupt(bad, "contrast", 1)  # type: ignore[arg-type]


def test_unknown_corruption_lists_the_valid_names(images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown corruption 'rain'") as error:
        corrupt(images, "rain", 1)
    assert all(name in str(error.value) for name in NAMES)


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True, "3"])
def test_severity_outside_1_to_5_is_rejected(images: np.ndarray, severity: object) -> None:
    with pytest.raises(ValueError, match="severity must be an integer in 1..5"):
        corrupt(images, "contrast", severity)  # type: ignore[arg-type]


def test_bad_seed_labels_and_names_for_the_generator(images: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        corrupt(images, "contrast", 1, seed=-1)
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(12,\)"):
        generate_cifar_c(images, np.zeros(11, int), tmp_path)
    with pytest.raises(ValueError, match="unknown corruption 'fogg'"):
        generate_cifar_c(images, np.zeros(12, int), tmp_path, ["fog", "fogg"])
    with pytest.raises(ValueError, match="non-empty batch"):
        generate_cifar_c(images[0], np.zeros(1, int), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written before the checks pass
