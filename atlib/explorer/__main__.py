"""``python -m atlib.explorer RUNS --out report.html``: write the explorer as a self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from atlib.cli import command
from atlib.explorer import SPLITS


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlib.explorer",
                                     description="Write the learning-profile explorer as a self-contained HTML file.")
    parser.add_argument("runs", help="runs to compare: a glob ('outputs/runs/cifar10_*'), a runs folder or a run folder")
    parser.add_argument("--out", required=True, type=Path, help="HTML file to write")
    parser.add_argument("--split", default="test", choices=SPLITS, help="test images, CIFAR-10-NEG or the training probe")
    parser.add_argument("--threshold", type=float, default=None,
                        help="non-monotonicity threshold (default: atlib.metrics.default_threshold of each group's number of record points)")
    parser.add_argument("--reference", default="0", help="group whose categories choose the images: position or label")
    parser.add_argument("--max-images", type=int, default=240)
    parser.add_argument("--per-category", type=int, default=10)
    parser.add_argument("--indices", type=lambda s: [int(v) for v in s.split(",")], default=None,
                        help="comma-separated dataset indices (e.g. CIFAR-10 test indices, not record rows) to export "
                             "instead of the default selection")
    args = parser.parse_args(argv)
    reference: int | str = int(args.reference) if args.reference.isdigit() else args.reference
    from atlib.explorer.export import export_html  # altair and the analysis stack load only when a command runs

    path = export_html(args.runs, args.out, dataset_indices=args.indices, max_images=args.max_images,
                       per_category=args.per_category, reference=reference, split=args.split, threshold=args.threshold)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
