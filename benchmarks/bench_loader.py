"""DeviceLoader throughput, and optionally the cold/warm time of ``load_dataset``.

    python benchmarks/bench_loader.py [--device cuda] [--epochs 3] [--synthetic 0.5] [--cifar-root DIR]

Times whole training epochs (train=True: permutation, crop, flip, float conversion) of batch 128
over CIFAR-10-sized random uint8 data (50,000 images) on the best available device, after one
warm-up epoch, and prints batches/s and images/s. Each batch's ``x`` is consumed by a sum so
that queued GPU work is really done when the clock stops. ``--synthetic F`` mixes in a
1,000,000-row (3 GB) synthetic set at fraction F. That is over the loader's
``SYNTHETIC_ON_DEVICE_MAX_BYTES``, so this times the host-memmap path: each batch's synthetic
rows are read from the memmap on the host and copied to the device.

``--cifar-root DIR`` also times ``load_dataset('cifar10', 'train', DIR)`` twice with a fresh cache:
the first call finds, extracts and decodes the source; the second reads the cached ``.npy``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atlib.data import DeviceLoader, ImageSet, load_dataset  # noqa: E402


def time_epochs(loader: DeviceLoader, epochs: int, device: torch.device) -> float:
    """Seconds per epoch, averaged over ``epochs`` after one warm-up epoch."""
    sink = torch.zeros((), device=device)
    for batch in loader.epoch(0):
        sink += batch.x.sum()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for batch in loader.epoch(epoch):
            sink += batch.x.sum()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / epochs


def synthetic_memmap(folder: Path, rows: int) -> ImageSet:
    """A ``rows``-image random synthetic set as a host memmap, written in chunks."""
    images = np.lib.format.open_memmap(folder / "synthetic.npy", mode="w+", dtype=np.uint8, shape=(rows, 32, 32, 3))
    rng = np.random.default_rng(1)
    for start in range(0, rows, 100_000):
        images[start : start + 100_000] = rng.integers(0, 256, (min(100_000, rows - start), 32, 32, 3), dtype=np.uint8)
    images.flush()
    labels = rng.integers(0, 10, rows)
    return ImageSet(np.load(folder / "synthetic.npy", mmap_mode="r"), labels, tuple(map(str, range(10))))


def time_cifar(root: str) -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ATLIB_CACHE"] = cache
        for attempt in ("first (extract + decode)", "second (cached .npy)"):
            start = time.perf_counter()
            images, labels, _ = load_dataset("cifar10", "train", root=root)
            images.sum(axis=0)  # touch every byte, as copying to the device would
            print(f"load_dataset cifar10 train, {attempt}: {time.perf_counter() - start:.2f} s ({len(labels)} images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up (default 3)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--synthetic", type=float, default=0.0, help="also mix a 1M-row host memmap at this fraction")
    parser.add_argument("--cifar-root", default=None, help="also time cold and cached load_dataset from this folder")
    args = parser.parse_args()

    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    data = ImageSet(rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 50_000),
                    tuple(map(str, range(10))))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    with tempfile.TemporaryDirectory() as folder:
        synthetic = synthetic_memmap(Path(folder), 1_000_000) if args.synthetic else None
        start = time.perf_counter()
        loader = DeviceLoader(data, args.batch_size, device, train=True, synthetic=synthetic,
                              synthetic_fraction=args.synthetic or 0.5)
        setup = time.perf_counter() - start
        seconds = time_epochs(loader, args.epochs, device)
    mixing = f", synthetic fraction {args.synthetic} from a 1M-row host memmap" if args.synthetic else ""
    print(f"DeviceLoader train=True, batch {args.batch_size}, 50,000 images{mixing}, on {name}")
    print(f"  setup (copy to device): {setup:.3f} s")
    print(f"  {seconds:.3f} s/epoch, {len(loader) / seconds:,.0f} batches/s, {50_000 / seconds:,.0f} img/s")
    if args.cifar_root:
        time_cifar(args.cifar_root)


if __name__ == "__main__":
    main()
