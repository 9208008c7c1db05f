"""``generate_cifar_c``: write a CIFAR-C style folder, resumably, in parallel.

Layout (the release's): one ``<corruption>.npy`` uint8 (5N, 32, 32, 3) per corruption with
severity s in rows [(s-1)N, sN), ``labels.npy`` = ``np.tile(labels, 5)`` int64, and
``generation.json`` recording how the files were made.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from importlib import metadata
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

import atlib
from atlib.corruptions.core import (
    BLOCK_SIZE, CORRUPTIONS, IMAGE_SHAPE, SEVERITIES, check_images, check_request, corrupt_block,
)  # fmt: skip
from atlib.progress import bar, line
from atlib.store.io import read_json, save_npy, write_json

MANIFEST = "generation.json"
MOTION_BLUR_NOTE = (
    "motion_blur and snow use a NumPy/OpenCV port of ImageMagick's MotionBlurImage (one-sided Gaussian line "
    "of 2*ceil(radius)+1 samples, edge pixels repeated, rounded to 8 bits) instead of ImageMagick, "
    "so they are not bit-identical to the release"
)
_LIBRARIES = ("numpy", "scipy", "scikit-image", "opencv-python-headless", "pillow", "imagecorruptions")

Task = tuple[str, int, int]  # (corruption, severity, block)
_worker_images: np.ndarray | None = None


def generate_cifar_c(
    images: np.ndarray,
    labels: np.ndarray,
    out_dir: str | os.PathLike,
    corruptions: Iterable[str] | None = None,
    seed: int = 0,
    workers: int | None = None,
    source: Mapping[str, str] | None = None,
) -> Path:
    """Write the corrupted copies of ``images`` (uint8 (N, 32, 32, 3)) into ``out_dir``; return it.

    ``corruptions`` defaults to all 19. Files already complete (right shape and dtype) are kept,
    so an interrupted run resumes; every file is written atomically. Rows are exactly
    ``corrupt(images, name, severity, seed)``. Work is split into (corruption, severity, block)
    tasks over ``workers`` processes (default: all cores; 0 or 1 runs in this process).
    ``source`` names the images (``{"dataset": "cifar10", "split": "test"}``); it is recorded, and a folder
    made from other images is refused rather than completed with them.
    """
    batch = check_images(images)
    if np.ndim(images) != 4 or len(batch) == 0:
        raise ValueError(f"images must be a non-empty batch (N, 32, 32, 3); got shape {np.shape(images)}")
    labels = np.asarray(labels)
    if labels.shape != (len(batch),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integers of shape ({len(batch)},), one per image; got {labels.dtype} {labels.shape}"
        )
    names = list(dict.fromkeys(CORRUPTIONS if corruptions is None else corruptions))
    for name in names:
        check_request(name, SEVERITIES[0], seed)
    out_dir = Path(out_dir)
    source = dict(source or {})
    _check_manifest(out_dir, seed, len(batch), source)
    manifest = {**_manifest(seed, len(batch)), **source}
    write_json(out_dir / MANIFEST, {**manifest, "complete": _complete(out_dir, len(batch))})
    save_npy(out_dir / "labels.npy", np.tile(labels.astype(np.int64), len(SEVERITIES)))

    todo = [name for name in names if not _is_complete(out_dir / f"{name}.npy", len(batch))]
    starts = range(0, len(batch), BLOCK_SIZE)
    tasks = [(name, severity, block) for name in todo for severity in SEVERITIES for block in range(len(starts))]
    pending = {name: len(SEVERITIES) * len(starts) for name in todo}
    outputs: dict[str, np.ndarray] = {}
    written = 0
    with bar(total=len(todo) * len(SEVERITIES) * len(batch), desc="CIFAR-C", unit="img") as images_done:
        for (name, severity, block), corrupted in _run(tasks, batch, seed, workers):
            out = outputs.setdefault(name, np.empty((len(SEVERITIES) * len(batch), *batch.shape[1:]), np.uint8))
            row = (severity - 1) * len(batch) + block * BLOCK_SIZE
            out[row : row + len(corrupted)] = corrupted
            images_done.update(len(corrupted))
            pending[name] -= 1
            if pending[name] == 0:
                save_npy(out_dir / f"{name}.npy", outputs.pop(name))
                written += 1
                line(f"{name}: {len(SEVERITIES)} severities x {len(batch)} images written ({written}/{len(todo)} corruptions)")
    write_json(out_dir / MANIFEST, {**manifest, "complete": _complete(out_dir, len(batch))})
    return out_dir


def _run(tasks: list[Task], images: np.ndarray, seed: int, workers: int | None) -> Iterator[tuple[Task, np.ndarray]]:
    """Yield (task, uint8 block) for every task, in this process or over a process pool."""
    workers = min((os.cpu_count() or 1) if workers is None else workers, len(tasks))
    if workers <= 1:
        _init_worker(images)
        for task in tasks:
            yield task, _run_task(task, seed)
        return
    # spawn: never fork a process that may hold OpenCV or tqdm threads
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(images,))
    try:
        futures = {pool.submit(_run_task, task, seed): task for task in tasks}
        for future in cf.as_completed(futures):
            yield futures.pop(future), future.result()  # pop: finished blocks are not kept twice
    finally:
        pool.shutdown(cancel_futures=True)  # on an error or interrupt, do not run the queued tasks


def _init_worker(images: np.ndarray) -> None:
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from the processes
    global _worker_images
    _worker_images = images


def _run_task(task: Task, seed: int) -> np.ndarray:
    name, severity, block = task
    assert _worker_images is not None
    start = block * BLOCK_SIZE
    return corrupt_block(_worker_images[start : start + BLOCK_SIZE], name, severity, seed, block)


def _is_complete(path: Path, n: int) -> bool:
    """True if ``path`` holds a finished corruption file for ``n`` images (writes are atomic)."""
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return array.dtype == np.uint8 and array.shape == (len(SEVERITIES) * n, *IMAGE_SHAPE)


def _complete(out_dir: Path, n: int) -> list[str]:
    return [name for name in CORRUPTIONS if _is_complete(out_dir / f"{name}.npy", n)]


def _manifest(seed: int, n: int) -> dict:
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "seed": seed,
        "images_per_severity": n,
        "block_size": BLOCK_SIZE,
        "atlib_version": atlib.__version__,
        "libraries": versions,
        "motion_blur": MOTION_BLUR_NOTE,
        "layout": "<corruption>.npy uint8 (5N, 32, 32, 3), severity s in rows [(s-1)N, sN); "
        "labels.npy = tile(labels, 5)",
    }


# A manifest written before the source was recorded holds the CLI's default split; its dataset is unknown.
_UNRECORDED = {"split": "test"}


def _check_manifest(out_dir: Path, seed: int, n: int, source: Mapping[str, str]) -> None:
    """Refuse to resume into a folder generated with another seed, image count or source (dataset, split)."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return
    previous = read_json(path)
    expected = [("seed", seed), ("images_per_severity", n), ("block_size", BLOCK_SIZE), *source.items()]
    for key, value in expected:
        found = previous.get(key, _UNRECORDED.get(key, value) if key in source else None)
        if found != value:
            raise ValueError(
                f"{out_dir} was generated with {key}={found!r}, not {value!r}; "
                f"use a fresh output folder or the same settings to resume"
            )
