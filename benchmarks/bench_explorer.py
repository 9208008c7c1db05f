"""Learning-profile explorer speed at the paper's scale: CIFAR-10 runs with 120 record points,
10,000 test images and 5 seeds per group (synthetic records, no dataset or training needed).

Prints and writes ``outputs/benchmarks/explorer.json``:
- construction: summarizing every group (categories, final predictions, entropies), then the
  widget (compiling its one chart spec, and the first render);
- update: one slider move (``ProfileExplorer.select``), Python side, plus the JSON encoding of the
  chart spec the kernel sends to the browser, and that JSON's size. The target is under 200 ms;
- export: the static HTML of the default selection (240 images) and its size in bytes.

    python benchmarks/bench_explorer.py                 # 2 groups (NT, AT ε=8/255)
    python benchmarks/bench_explorer.py --groups 4 --moves 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # fakeruns: writes run folders with chosen records, as training lays them out

from fakeruns import make_run, random_probs  # noqa: E402

from atlib.config import TrainConfig  # noqa: E402
from atlib.explorer import ProfileExplorer, ProfileSet, export_html  # noqa: E402
from atlib.store.io import write_json  # noqa: E402

EPSILONS = (0.0, 2.0, 8.0, 16.0)


def write_runs(root: Path, groups: int, seeds: int, points: int, n: int, classes: int) -> None:
    """``groups`` × ``seeds`` runs of random, sharpening predictions on shared labels."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, n)
    for eps in EPSILONS[:groups]:
        for seed in range(seeds):
            config = TrainConfig(method="nt" if eps == 0 else "at", epsilon_255=eps, seed=seed, epochs=points)
            make_run(root, config, random_probs(rng, points, n, classes, sharpen=0.03), labels)


def stats(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "max_ms": float(ms.max())}

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=2, choices=range(1, len(EPSILONS) + 1))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--points", type=int, default=120)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=100, help="slider moves to time")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "benchmarks" / "explorer.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_runs(root, args.groups, args.seeds, args.points, args.images, 10)
        images = np.random.default_rng(1).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
        took = time.perf_counter() - t0
        print(f"wrote {args.groups}x{args.seeds} runs ({args.points} points, {args.images} images) in {took:.1f} s")

        t0 = time.perf_counter()
        data = ProfileSet.load(str(root / "*"), images=images)
        summarize = time.perf_counter() - t0
        t0 = time.perf_counter()
        explorer = ProfileExplorer(data)
        widget = time.perf_counter() - t0

        updates, encode, sizes = [], [], []
        for pick in np.random.default_rng(2).choice(len(explorer.order), args.moves, replace=False):
            seconds = explorer.select(int(pick))
            t0 = time.perf_counter()
            sizes.append(len(json.dumps(explorer.spec)))
            encode.append(time.perf_counter() - t0)
            updates.append(seconds + encode[-1])

        t0 = time.perf_counter()
        html = export_html(explorer.data, root / "report.html")
        export = time.perf_counter() - t0
        result = {
            "groups": args.groups, "seeds": args.seeds, "points": args.points, "images": args.images,
            "summarize_s": summarize, "widget_s": widget, "update": stats(updates), "spec_json_encode": stats(encode),
            "spec_json_bytes": int(np.median(sizes)), "export_s": export, "export_bytes": html.stat().st_size,
        }
    print(f"construction: summaries {summarize:.2f} s, widget (chart compilation, first render) {widget:.2f} s")
    for name, text in (("update", "slider move incl. spec encoding"), ("spec_json_encode", "of which spec JSON encoding")):
        r = result[name]
        print(f"{text:>32}: median {r['median_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms, max {r['max_ms']:.1f} ms (n={r['n']})")
    print(f"{'spec JSON per update':>32}: {result['spec_json_bytes']:,} bytes (median)")
    print(f"static export (default 240 images): {export:.1f} s, {result['export_bytes']:,} bytes")
    write_json(args.out, result)
    print(f"wrote {args.out}")

if __name__ == "__main__":
    main()
