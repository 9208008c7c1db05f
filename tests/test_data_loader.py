"""DeviceLoader: order, augmentation against a NumPy reference, determinism and resume, mixing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import atlib.data.loader as loader_module
from atlib.data import Batch, DeviceLoader, ImageSet
from atlib.data.augment import crop_flip
from atlib.data.mixing import PAD, make_plan

CLASSES = tuple("abcdefghij")


def image_set(n: int, seed: int) -> ImageSet:
    rng = np.random.default_rng(seed)
    return ImageSet(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n), CLASSES)


def reference_crop_flip(images_hwc: np.ndarray, offsets: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """The NumPy definition: zero-pad by PAD, slice the 32x32 window, mirror where flipped."""
    padded = np.pad(images_hwc.transpose(0, 3, 1, 2), ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    out = np.stack([padded[i, :, dy : dy + 32, dx : dx + 32] for i, (dy, dx) in enumerate(offsets)])
    out[flips] = out[flips][..., ::-1]
    return out


def collect(batches) -> list[Batch]:
    return list(batches)


def assert_batches_equal(a: list[Batch], b: list[Batch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for field in Batch._fields:
            a_value, b_value = getattr(x, field), getattr(y, field)
            if isinstance(a_value, int):  # num_original, known on the host
                assert a_value == b_value, field
            else:
                assert torch.equal(a_value.cpu(), b_value.cpu()), field


# --- augmentation -----------------------------------------------------------------------------------


def test_crop_flip_equals_numpy_slices_for_every_offset() -> None:
    grid = np.array([(dy, dx) for dy in range(2 * PAD + 1) for dx in range(2 * PAD + 1)] * 2)
    flips = np.repeat([False, True], len(grid) // 2)
    images = image_set(len(grid), seed=1).images
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    out = crop_flip(x, torch.from_numpy(grid), torch.from_numpy(flips), PAD)
    assert out.dtype == torch.uint8 and out.is_contiguous()
    assert np.array_equal(out.numpy(), reference_crop_flip(images, grid, flips))
    # the centre offset without flip is the identity; with flip it is [..., ::-1]
    centre = np.flatnonzero((grid == PAD).all(axis=1))
    assert np.array_equal(out[centre[0]].numpy(), images[centre[0]].transpose(2, 0, 1))
    assert np.array_equal(out[centre[1]].numpy(), images[centre[1]].transpose(2, 0, 1)[..., ::-1])
    # the corner offset (0, 0) shifts the image down-right by PAD, with zeros in the border
    corner = 0
    assert (out[corner, :, :PAD].numpy() == 0).all() and (out[corner, :, :, :PAD].numpy() == 0).all()
    assert np.array_equal(out[corner, :, PAD:, PAD:].numpy(), images[corner].transpose(2, 0, 1)[:, :-PAD, :-PAD])


# --- plain loading ----------------------------------------------------------------------------------


def test_eval_loader_is_in_order_unaugmented_and_keeps_the_last_batch() -> None:
    data = image_set(103, seed=2)
    loader = DeviceLoader(data, 25, train=False)
    batches = collect(loader.epoch(0))
    assert len(loader) == len(batches) == 5 and [len(b.y) for b in batches] == [25, 25, 25, 25, 3]
    x = torch.cat([b.x for b in batches])
    assert x.dtype == torch.float32 and x.shape == (103, 3, 32, 32) and all(b.x.is_contiguous() for b in batches)
    assert np.array_equal(x.numpy(), data.images.transpose(0, 3, 1, 2) / np.float32(255))
    assert torch.equal(torch.cat([b.index for b in batches]), torch.arange(103))
    assert torch.equal(torch.cat([b.y for b in batches]), torch.from_numpy(data.labels))
    assert not torch.cat([b.is_synthetic for b in batches]).any()
    assert_batches_equal(batches, collect(loader.epoch(7)))  # evaluation order never changes


def test_train_epoch_is_a_fresh_permutation_with_augmentation_from_the_plan() -> None:
    data = image_set(103, seed=3)
    loader = DeviceLoader(data, 25, train=True, seed=11)
    orders = []
    for epoch in range(3):
        batches = collect(loader.epoch(epoch))
        assert [len(b.y) for b in batches] == [25, 25, 25, 25, 3]
        index = torch.cat([b.index for b in batches])
        assert sorted(index.tolist()) == list(range(103)), "each row exactly once per epoch"
        orders.append(index)
        plan = make_plan(103, 25, train=True, seed=11, epoch=epoch)
        assert torch.equal(index, plan.rows)
        expected = reference_crop_flip(data.images[index.numpy()], plan.offsets.numpy(), plan.flips.numpy())
        assert np.array_equal(torch.cat([b.x for b in batches]).numpy(), expected / np.float32(255))
        assert torch.equal(torch.cat([b.y for b in batches]), torch.from_numpy(data.labels[index.numpy()]))
        # the draws really vary: several offsets and both flip values
        assert len(set(map(tuple, plan.offsets.tolist()))) > 40 and 20 < int(plan.flips.sum()) < 83
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])


def test_epochs_are_pure_functions_of_seed_and_epoch_and_resume_exactly() -> None:
    data = image_set(90, seed=4)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a, b = DeviceLoader(data, 16, train=True, seed=5), DeviceLoader(data, 16, train=True, seed=5)
    full = collect(a.epoch(3))
    assert_batches_equal(full, collect(b.epoch(3)))
    for k in (0, 1, 4, len(full) - 1, len(full)):
        assert_batches_equal(collect(a.epoch(3, start_batch=k)), full[k:])
    other_seed = collect(DeviceLoader(data, 16, train=True, seed=6).epoch(3))
    assert not torch.equal(other_seed[0].index, full[0].index)
    assert torch.equal(torch.get_rng_state(), torch_state), "the global torch RNG is never touched"
    assert np.array_equal(np.random.get_state()[1], numpy_state), "nor NumPy's"
    torch.manual_seed(123)  # nor does the global RNG influence the batches
    assert_batches_equal(collect(a.epoch(3)), full)


# --- synthetic mixing -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fraction", "batch_size", "per_batch"), [(0.5, 32, 16), (0.3, 10, 3), (0.75, 20, 15)])
def test_mixing_fraction_length_and_no_repeats(fraction: float, batch_size: int, per_batch: int) -> None:
    data, synthetic = image_set(300, seed=5), image_set(5000, seed=6)
    loader = DeviceLoader(data, batch_size, train=True, seed=1, synthetic=synthetic, synthetic_fraction=fraction)
    assert len(loader) == math.ceil(300 / batch_size), "as many batches as without mixing"
    for epoch in range(2):
        batches = collect(loader.epoch(epoch))
        assert len(batches) == len(loader)
        original_rows = []
        for batch in batches:
            assert len(batch.y) == batch_size and int(batch.is_synthetic.sum()) == per_batch
            syn, index = batch.is_synthetic.numpy(), batch.index.numpy()
            assert np.array_equal(batch.y.numpy()[syn], synthetic.labels[index[syn]])
            assert np.array_equal(batch.y.numpy()[~syn], data.labels[index[~syn]])
            original_rows.extend(index[~syn].tolist())
        assert len(original_rows) == len(set(original_rows)) == len(loader) * (batch_size - per_batch)
        plan = make_plan(300, batch_size, train=True, seed=1, epoch=epoch, num_synthetic_rows=5000,
                         synthetic_per_batch=per_batch)
        rows, syn = plan.rows.numpy(), plan.is_synthetic.numpy()
        source = np.empty((len(rows), 32, 32, 3), np.uint8)
        source[syn], source[~syn] = synthetic.images[rows[syn]], data.images[rows[~syn]]
        expected = reference_crop_flip(source, plan.offsets.numpy(), plan.flips.numpy())
        assert np.array_equal(torch.cat([b.x for b in batches]).numpy(), expected / np.float32(255))
    # synthetic picks are with replacement from the whole set, not a fixed few
    picks = torch.cat([b.index[b.is_synthetic] for b in loader.epoch(0)])
    assert len(set(picks.tolist())) > 0.8 * len(picks)


def test_mixing_is_deterministic_and_resumes() -> None:
    data, synthetic = image_set(200, seed=7), image_set(700, seed=8)
    make = lambda: DeviceLoader(data, 24, train=True, seed=2, synthetic=synthetic, synthetic_fraction=0.5)  # noqa: E731
    full = collect(make().epoch(4))
    assert_batches_equal(full, collect(make().epoch(4)))
    assert_batches_equal(collect(make().epoch(4, start_batch=5)), full[5:])


def test_fraction_zero_is_plain_training() -> None:
    data, synthetic = image_set(100, seed=9), image_set(50, seed=10)
    mixed = DeviceLoader(data, 32, train=True, seed=3, synthetic=synthetic, synthetic_fraction=0.0)
    assert_batches_equal(collect(mixed.epoch(0)), collect(DeviceLoader(data, 32, train=True, seed=3).epoch(0)))


def test_tiny_set_never_repeats_original_rows() -> None:
    # 2 batches x 3 original rows would need 6 of the 5 rows: the last batch takes the 2 left
    loader = DeviceLoader(image_set(5, seed=11), 4, train=True, synthetic=image_set(9, seed=12), synthetic_fraction=0.25)
    batches = collect(loader.epoch(0))
    assert [int((~b.is_synthetic).sum()) for b in batches] == [3, 2]
    assert [int(b.is_synthetic.sum()) for b in batches] == [1, 1]
    assert sorted(torch.cat([b.index[~b.is_synthetic] for b in batches]).tolist()) == [0, 1, 2, 3, 4]


def test_huge_synthetic_set_stays_on_host_with_identical_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, synthetic = image_set(64, seed=13), image_set(400, seed=14)
    np.save(tmp_path / "syn.npy", synthetic.images)
    mapped = ImageSet(np.load(tmp_path / "syn.npy", mmap_mode="r"), synthetic.labels, CLASSES)
    on_device = collect(DeviceLoader(data, 16, train=True, synthetic=synthetic).epoch(1))
    monkeypatch.setattr(loader_module, "SYNTHETIC_ON_DEVICE_MAX_BYTES", 0)
    host = DeviceLoader(data, 16, train=True, synthetic=mapped)
    assert isinstance(host._synthetic_images, np.memmap), "kept as the host memmap"
    assert_batches_equal(collect(host.epoch(1)), on_device)


def test_bad_arguments() -> None:
    data = image_set(20, seed=15)
    for fraction in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"synthetic_fraction must be in \[0, 1\)"):
            DeviceLoader(data, 8, train=True, synthetic=data, synthetic_fraction=fraction)
    with pytest.raises(ValueError, match="leaves no original rows"):
        DeviceLoader(data, 128, train=True, synthetic=data, synthetic_fraction=0.999)
    with pytest.raises(ValueError, match="training setting"):
        DeviceLoader(data, 8, train=False, synthetic=data)
    with pytest.raises(ValueError, match=r"synthetic set: labels must lie in \[0, 9\]"):
        DeviceLoader(data, 8, train=True, synthetic=ImageSet(data.images, data.labels + 10, CLASSES))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        DeviceLoader(data, 0, train=True)
    with pytest.raises(ValueError, match="DeviceLoader data: .*images are float32"):
        DeviceLoader(ImageSet(data.images.astype(np.float32), data.labels, CLASSES), 8, train=True)
    loader = DeviceLoader(data, 8, train=True)
    with pytest.raises(ValueError, match=r"start_batch must be in \[0, 3\]"):
        next(loader.epoch(0, start_batch=4))
    with pytest.raises(ValueError, match="non-negative"):
        next(loader.epoch(-1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_batches_equal_cpu_batches() -> None:
    data, synthetic = image_set(300, seed=16), image_set(500, seed=17)
    kwargs = dict(train=True, seed=4, synthetic=synthetic, synthetic_fraction=0.5)
    gpu = collect(DeviceLoader(data, 64, "cuda", **kwargs).epoch(2))
    assert all(b.x.is_cuda and b.y.is_cuda and b.index.is_cuda and b.is_synthetic.is_cuda for b in gpu)
    assert_batches_equal(gpu, collect(DeviceLoader(data, 64, "cpu", **kwargs).epoch(2)))


def test_synthetic_placement_keeps_the_set_on_a_cuda_device_when_it_fits_with_the_reserve() -> None:
    from atlib.data.loader import GIB, synthetic_placement

    cuda = torch.device("cuda")
    # An H200 with 139 GiB free of 141: Wang et al.'s 1M set (3 GB) goes to the device.
    assert synthetic_placement(3 * 10**9, cuda, free=139 * GIB, total=141 * GIB)[0]
    # The reserve is max(4 GiB, 10 %): 14.1 GiB on a 141 GiB card, 4 GiB on a 24 GiB one.
    assert not synthetic_placement(126 * GIB, cuda, free=139 * GIB, total=141 * GIB)[0]
    assert synthetic_placement(124 * GIB, cuda, free=139 * GIB, total=141 * GIB)[0]
    assert synthetic_placement(19 * GIB, cuda, free=23 * GIB, total=24 * GIB)[0]
    fits, why = synthetic_placement(20 * GIB, cuda, free=23 * GIB, total=24 * GIB)
    assert not fits and "kept on the host" in why and "23.0 GiB free" in why
    # On the CPU the fixed 2 GiB rule of atlib 0.1 stays.
    assert synthetic_placement(2 * GIB, torch.device("cpu"))[0]
    assert not synthetic_placement(2 * GIB + 1, torch.device("cpu"))[0]
