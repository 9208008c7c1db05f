"""Time every CIFAR-C corruption and extrapolate to the full set (19 x 5 severities x 10,000 images).

    python benchmarks/bench_corruptions.py [--images 1000] [--corruptions a,b] [--workers 2] [--generate]

Each corruption runs on ``--images`` images at each severity, timed as CPU seconds of this process
(robust to other jobs on a shared machine) and as wall seconds. The full-set estimate scales the
CPU time to ``--full`` images per severity and divides by ``--workers`` (the generator's process
pool splits the work into independent (corruption, severity, block) tasks). ``--generate`` also
times ``generate_cifar_c`` end to end on the same images with that many workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atlib.corruptions import CORRUPTIONS, SEVERITIES, corrupt, generate_cifar_c  # noqa: E402

EXTRACT = "official-extracts/cifar10_test_official_first1017.npz"


def load_images(count: int) -> tuple[np.ndarray, str]:
    """Real CIFAR-10 test images (tiled up to ``count``) if the shared data is present, else random ones."""
    path = Path(os.environ.get("ATLIB_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / EXTRACT
    if path.is_file():
        data = np.load(path)["data"]
        return np.resize(data, (count, *data.shape[1:])), f"CIFAR-10 test images from {path.name}"
    return np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), "random images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="images per severity to time (default 1000)")
    parser.add_argument("--full", type=int, default=10_000, help="images per severity to extrapolate to")
    parser.add_argument("--workers", type=int, default=2, help="processes of the full run (default 2)")
    parser.add_argument("--corruptions", default=None, help="comma-separated subset (default: all 19)")
    parser.add_argument("--generate", action="store_true", help="also time generate_cifar_c end to end")
    args = parser.parse_args()

    cv2.setNumThreads(1)  # one core per process, as in the generator's workers
    names = list(CORRUPTIONS) if args.corruptions is None else args.corruptions.split(",")
    images, source = load_images(args.images)
    scale = args.full / args.images
    print(f"{args.images} {source} per severity; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'corruption':<18} {'cpu s':>7} {'wall s':>7} {'ms/img':>7} {'full cpu s':>10}")
    total_cpu = total_wall = 0.0
    for name in names:
        cpu, wall = time.process_time(), time.perf_counter()
        for severity in SEVERITIES:
            corrupt(images, name, severity)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        total_cpu, total_wall = total_cpu + cpu, total_wall + wall
        per_image = 1000 * cpu / (len(SEVERITIES) * args.images)
        print(f"{name:<18} {cpu:7.2f} {wall:7.2f} {per_image:7.3f} {cpu * scale:10.1f}")
    print(f"{'total':<18} {total_cpu:7.2f} {total_wall:7.2f} {'':>7} {total_cpu * scale:10.1f}")
    estimate = total_cpu * scale / args.workers
    print(f"estimated full run ({args.full} images x {len(names)} corruptions x 5): "
          f"{estimate:.0f} s = {estimate / 60:.1f} min on {args.workers} cores (CPU time / workers)")  # fmt: skip

    if args.generate:
        labels = np.zeros(len(images), dtype=np.int64)
        with tempfile.TemporaryDirectory() as folder:
            wall = time.perf_counter()
            generate_cifar_c(images, labels, folder, names, workers=args.workers)
            wall = time.perf_counter() - wall
        print(f"generate_cifar_c, {args.workers} workers: {wall:.1f} s wall for {args.images} images/severity "
              f"-> {wall * scale / 60:.1f} min extrapolated (includes process start-up)")  # fmt: skip


if __name__ == "__main__":
    main()
