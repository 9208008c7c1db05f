"""``python -m atlib.corruptions``: regenerate CIFAR-10-C / CIFAR-100-C from a CIFAR test set."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from atlib.cli import command
from atlib.config import DATA_ROOT_RULE
from atlib.datasets import CIFAR_C_CORRUPTIONS, DATASET_INFO

_ORDER_NOTE = (
    "Row order follows the loaded set: the official python release keeps the official order (the "
    "row order of the released CIFAR-C files); an ImageFolder is read by class, then file name, so "
    "its rows will not line up with the released files."
)


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atlib.corruptions",
        description="Write <corruption>.npy (5 severities x N rows), labels.npy and generation.json. " + _ORDER_NOTE,
    )
    parser.add_argument("--dataset", required=True, choices=[n for n, i in DATASET_INFO.items() if i.has_corrupted])
    parser.add_argument("--out", required=True, help="output folder (resumes a partial run of the same settings)")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="split to corrupt (default: test)")
    parser.add_argument("--root", default=None, help=f"folder (or archive) holding the dataset: {DATA_ROOT_RULE}")
    parser.add_argument("--corruptions", default=None, help=f"comma-separated subset of: {','.join(CIFAR_C_CORRUPTIONS)} (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the noise corruptions (default: 0)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores; 1 = in-process)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (for a quick trial)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1; got {args.limit}")

    from atlib.corruptions.generate import generate_cifar_c  # the corruption and data code load only when a command runs
    from atlib.data import load_dataset

    rows = slice(None) if args.limit is None else slice(0, args.limit)
    names = None if args.corruptions is None else [n.strip() for n in args.corruptions.split(",") if n.strip()]
    data = load_dataset(args.dataset, args.split, args.root)
    out = generate_cifar_c(data.images[rows], data.labels[rows], args.out, names, seed=args.seed, workers=args.workers,
                           source={"dataset": args.dataset, "split": args.split})
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
