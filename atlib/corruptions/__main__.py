"""``python -m atlib.corruptions``: regenerate CIFAR-10-C / CIFAR-100-C from a CIFAR test set."""

from __future__ import annotations

import argparse
from pathlib import Path

from atlib.corruptions.core import CORRUPTIONS
from atlib.corruptions.generate import generate_cifar_c

_ORDER_NOTE = (
    "Row order follows the loaded set: the official python release keeps the official order (the "
    "row order of the released CIFAR-C files); an ImageFolder is read by class, then file name, so "
    "its rows will not line up with the released files."
)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m atlib.corruptions",
        description="Write <corruption>.npy (5 severities x N rows), labels.npy and generation.json. " + _ORDER_NOTE,
    )
    parser.add_argument("--dataset", required=True, choices=("cifar10", "cifar100"))
    parser.add_argument("--out", required=True, type=Path, help="output folder (resumes if it holds a partial run)")
    parser.add_argument("--split", default="test", choices=("train", "test"), help="split to corrupt (default: test)")
    parser.add_argument("--root", default=None, help="data root for atlib.data.load_cifar ($ATLIB_DATA, ./data)")
    parser.add_argument("--corruptions", default=None, help=f"comma-separated subset of: {','.join(CORRUPTIONS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores; 1 = in-process)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (for a quick trial)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1; got {args.limit}")

    from atlib.data import load_cifar  # the data layer is only needed here, not by the library

    rows = slice(None) if args.limit is None else slice(0, args.limit)
    names = None if args.corruptions is None else [n.strip() for n in args.corruptions.split(",") if n.strip()]
    try:
        data = load_cifar(args.dataset, args.split, args.root)
        images, labels = data.images[rows], data.labels[rows]
        out = generate_cifar_c(images, labels, args.out, names, seed=args.seed, workers=args.workers)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(out)
    return out


if __name__ == "__main__":
    main()
