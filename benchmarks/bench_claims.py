"""Claims report speed at the paper's scale: time per setting, extrapolated to the paper grid.

A fake setting of 5 seeds x 480 record points (120 epochs x 4) x 10,000 test images x 100 classes
(CIFAR-100; 4.8 GB of float16 records) is written once under ``$ATLIB_CACHE/bench_claims``
(default ``~/.cache/atlib``), with a 10-class one of the same shape (CIFAR-10); two more settings of
each (AT at two budgets) link to the same records, so one report covers NT and AT as part of a grid.
The report reads each run once (entropy, learning profiles, categories over the threshold grid).
The paper grid (``grids/paper.yaml``) has 24 settings: 12 on CIFAR-10 and 12 on CIFAR-100.
Target: under a minute for all 24.

Prints the seconds per setting of each kind (a first pass, records possibly read from disk, and
a second pass from the page cache), the grid's total extrapolated from them, and the bound of 24
CIFAR-100-sized settings. Writes ``outputs/benchmarks/claims.json``.

    python benchmarks/bench_claims.py                    # both kinds, threads = CPU cores
    python benchmarks/bench_claims.py --workers 1 --classes 100
    python benchmarks/bench_claims.py --demo             # `python -m atlib claims` on a demo-shaped run set

``--demo`` writes the demo's shape instead (NT, AT ε=2/255 and 8/255 with 3 seeds, NT and AT ε=8/255 with a
stand-in on seed 0; 25 record points of 1,000 test and 1,000 NEG images) and times the whole command,
imports included. Target: under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from atlib.claims import claims_report
from atlib.config import TrainConfig
from atlib.store.io import save_npy, write_json
from atlib.store.records import RecordStore
from atlib.store.runs import group_seeds, load_runs

REPO = Path(__file__).resolve().parents[1]
SEEDS, POINTS, IMAGES, GRID_SETTINGS = 5, 480, 10_000, {10: 12, 100: 12}
SETTINGS = (("nt", 0.0), ("at", 2.0), ("at", 8.0))  # one report over these, as over part of a grid


def write_settings(root: Path, classes: int) -> Path:
    """NT and AT ε=2, 8/255 settings of SEEDS runs with sharpening random predictions; complete runs are kept.

    The NT runs' records are written once; the AT settings' runs link to the same record files (their
    own config and metrics), so a grid of settings costs the disk of one.
    """
    folder = root / f"c{classes}"
    base = TrainConfig(dataset="cifar10" if classes == 10 else "cifar100", method="nt", epochs=POINTS // 4,
                       record_per_epoch=4, out_dir=str(folder))
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, IMAGES)
    for config in (base.replace(method=m, epsilon_255=e, seed=s) for m, e in SETTINGS for s in range(SEEDS)):
        run_dir = folder / config.run_name
        if (run_dir / "metrics.json").is_file():
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        write_json(run_dir / "meta.json", {"atlib_version": "benchmark"})
        source = folder / base.replace(seed=config.seed).run_name / "records"
        if config.method == "nt":
            save_npy(source / "test_index.npy", np.arange(IMAGES))
            store = RecordStore.create(source, POINTS, {"test": labels}, classes)
            logits_base = rng.standard_normal((IMAGES, classes), dtype=np.float32)
            logits_base[np.arange(IMAGES), labels] += 1.0
            for k in range(POINTS):
                logits = logits_base * (0.2 + 6.0 * k / POINTS) + 0.5 * rng.standard_normal((IMAGES, classes), dtype=np.float32)
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float16)
                acc = float((probs.argmax(1) == labels).mean())
                store.append({"epoch": (k + 1) / 4, "step": k + 1, "lr": 0.1, "train_loss": 1.0, "train_acc": acc,
                              "test_acc": acc, "neg_acc": None, "time": 0.0}, {"test": probs})
        else:
            (run_dir / "records").mkdir(parents=True)
            for path in source.iterdir():
                (run_dir / "records" / path.name).symlink_to(path)
        write_json(run_dir / "metrics.json", {"clean_acc": 0.5, "neg_acc": None, "robust_acc": {"8": 0.1 * config.epsilon_255}})
        write_json(run_dir / "config.json", config.to_dict())  # last: a run folder counts once it has its config
    return folder


DEMO_SETTINGS = (("nt", 0.0, (0, 1, 2), None), ("at", 2.0, (0, 1, 2), None), ("at", 8.0, (0, 1, 2), None),
                 ("nt", 0.0, (0,), "standin"), ("at", 8.0, (0,), "standin"))


def write_demo(root: Path) -> Path:
    """A demo-shaped run set (see the module docstring) under ``root/demo``, written once."""
    folder = root / "demo"
    points, images, classes = 25, 1000, 10
    rng = np.random.default_rng(0)
    labels, neg_labels = rng.integers(0, classes, images), rng.integers(0, classes, images)
    for method, eps, seeds, tag in DEMO_SETTINGS:
        for seed in seeds:
            config = TrainConfig.from_overrides({"method": method, "epsilon_255": eps or 8.0, "seed": seed,
                                                 "out_dir": str(folder), "synthetic": f"/data/{tag}.npz" if tag else None,
                                                 "synthetic_tag": tag or "synth"}, preset="demo")
            run_dir = folder / config.run_name
            if (run_dir / "metrics.json").is_file():
                continue
            shutil.rmtree(run_dir, ignore_errors=True)
            write_json(run_dir / "meta.json", {"atlib_version": "benchmark"})
            save_npy(run_dir / "records" / "test_index.npy", np.arange(images))
            store = RecordStore.create(run_dir / "records", points, {"test": labels, "neg": neg_labels}, classes)
            for k in range(points):
                split = {}
                for name, y in (("test", labels), ("neg", neg_labels)):
                    logits = rng.standard_normal((images, classes), dtype=np.float32) * (0.5 + 0.1 * k)
                    logits[np.arange(images), y] += 0.1 * k
                    e = np.exp(logits - logits.max(axis=1, keepdims=True))
                    split[name] = (e / e.sum(axis=1, keepdims=True)).astype(np.float16)
                acc = {n: float((p.argmax(1) == y).mean()) for (n, p), y in zip(split.items(), (labels, neg_labels))}
                store.append({"epoch": k + 1, "step": k + 1, "lr": 0.05, "train_loss": 1.0, "train_acc": acc["test"],
                              "test_acc": acc["test"], "neg_acc": acc["neg"], "time": 0.0}, split)
            write_json(run_dir / "metrics.json", {"clean_acc": acc["test"], "neg_acc": acc["neg"], "robust_acc": {"8": 0.1},
                                                  "cifar_c": {"seed_paper_mean": 0.4, "source": {"kind": "generated"}}})
            write_json(run_dir / "config.json", config.to_dict())
    return folder


def time_demo(cache: Path) -> None:
    """Time ``python -m atlib claims`` on the demo-shaped run set, twice (the second from the page cache)."""
    folder = write_demo(cache)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for attempt in ("first", "second"):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "atlib", "claims", str(folder)], check=True, env=env, capture_output=True)
        print(f"python -m atlib claims on a demo-shaped run set ({folder}), {attempt} run: "
              f"{time.perf_counter() - start:.1f} s (load average {os.getloadavg()[0]:.1f}; target < 30 s on 2 cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 100], choices=[10, 100])
    parser.add_argument("--workers", type=int, help="threads reading runs (default: one per CPU core)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("ATLIB_CACHE", Path.home() / ".cache" / "atlib")) / "bench_claims")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "benchmarks" / "claims.json")
    parser.add_argument("--demo", action="store_true", help="time the command on a demo-shaped run set instead")
    args = parser.parse_args()
    if args.demo:
        time_demo(args.cache)
        return

    results = {}
    for classes in args.classes:
        start = time.perf_counter()
        folder = write_settings(args.cache, classes)
        size = sum(p.stat().st_size for p in folder.rglob("*_probs.npy") if not p.is_symlink()) / 1e9
        print(f"{classes} classes: {len(SETTINGS)} settings x {SEEDS} seeds x {POINTS} points x {IMAGES} images "
              f"({size:.1f} GB of records, linked between settings) in {folder} (ready in {time.perf_counter() - start:.0f} s)")
        groups = group_seeds(load_runs(folder))
        passes = []
        for _ in range(2):
            start = time.perf_counter()
            report = claims_report(groups, workers=args.workers)
            passes.append((time.perf_counter() - start) / len(groups))
        assert len(report.claims) == 12 and len(groups) == len(SETTINGS)
        results[classes] = {"first_s": passes[0], "second_s": passes[1], "gb": size}
        print(f"  seconds per setting: first pass {passes[0]:.1f} (records read from disk), second pass {passes[1]:.1f}")

    best = {c: min(r["first_s"], r["second_s"]) for c, r in results.items()}
    summary = {"settings": results, "workers": args.workers or os.cpu_count(), "cpu_count": os.cpu_count()}
    if set(best) == {10, 100}:
        grid = sum(GRID_SETTINGS[c] * best[c] for c in best)
        bound = sum(GRID_SETTINGS.values()) * best[100]
        summary.update(paper_grid_s=grid, all_cifar100_bound_s=bound)
        print(f"paper grid (12 CIFAR-10 + 12 CIFAR-100 settings): {grid:.0f} s (target < 60 s); "
              f"24 CIFAR-100-sized settings: {bound:.0f} s")
    write_json(args.out, summary)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
