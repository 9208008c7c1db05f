"""``python -m atlib.train``: every :class:`~atlib.config.TrainConfig` field is an option."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Sequence

from atlib.config import PRESETS, TrainConfig


def build_parser() -> argparse.ArgumentParser:
    """An option per TrainConfig field (``--epsilon-255``, ``--compile/--no-compile``, ...), plus --preset
    and --force. Values stay text here; :meth:`TrainConfig.from_overrides` converts and checks them."""
    parser = argparse.ArgumentParser(prog="python -m atlib.train", description="Train (or resume) one configuration, recording every test prediction at every record point.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset's defaults")
    parser.add_argument("--force", action="store_true", help="discard a stored run of the same name and retrain")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"(default {default})")
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="+", default=None, help=f"(default {' '.join(map(str, default))})")
        else:
            parser.add_argument(flag, default=None, help=f"(default {default})")
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> tuple[TrainConfig, bool]:
    args = vars(build_parser().parse_args(argv))
    preset, force = args.pop("preset"), args.pop("force")
    return TrainConfig.from_overrides({k: v for k, v in args.items() if v is not None}, preset=preset), force


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, force = config_from_args(argv)
        from atlib.train import train  # the package imports this module

        run = train(config, force=force)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(f"run: {run.path}")
        print(f"metrics: {json.dumps(run.metrics, indent=1)}")
    return 0
