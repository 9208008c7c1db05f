"""``python -m atlib.train``: every :class:`~atlib.config.TrainConfig` field is an option, described by the
field's own help (one source for the CLI and the docs)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from typing import Any, Sequence

from atlib.cli import command
from atlib.config import PATH_FIELDS, PRESETS, TrainConfig, field_types
from atlib.store.layout import CHECKPOINT, CONFIG, DYNAMICS, LOG, META, METRICS, RECORDS


def build_parser() -> argparse.ArgumentParser:
    """An option per TrainConfig field (``--epsilon-255``, ``--compile/--no-compile``, ...), plus --preset
    and --force. Values stay text here; :meth:`TrainConfig.from_overrides` converts and checks them."""
    parser = argparse.ArgumentParser(
        prog="python -m atlib.train",
        description="Train (or resume) one configuration, recording every test prediction at every record point. "
                    "Killed or interrupted, the same command resumes it exactly.",
        epilog=f"Each run folder holds {CONFIG}, {META}, {CHECKPOINT}, {RECORDS}/, {DYNAMICS}/, {LOG} and, "
               f"when finished, {METRICS} (docs/run-folder.md). Errors print one line (ATLIB_DEBUG=1 shows the traceback).")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset's values (atlib.config.PRESETS)")
    parser.add_argument("--force", action="store_true", help="discard a stored run of the same name and retrain")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        text = f.metadata["help"] + _default_note(default)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="+", default=None, metavar=_metavar(f), help=text)
        else:
            parser.add_argument(flag, default=None, choices=f.metadata["choices"], metavar=_metavar(f), help=text)
    return parser


def _default_note(default: Any) -> str:
    """The one default shown: none for an unset field, whose help says what unset means."""
    if default is None:
        return ""
    if isinstance(default, bool):
        return f" (default: {'on' if default else 'off'})"
    if isinstance(default, tuple):
        return f" (default: {' '.join(map(str, default))})"
    return f" (default: {default})"


def _metavar(f: dataclasses.Field) -> str | None:
    """``{a,b,c}`` for a field with choices (argparse's own), else what the value is: PATH, N, X or TEXT."""
    if f.metadata["choices"]:
        return None
    if f.name in PATH_FIELDS:
        return "PATH"
    hint = field_types(TrainConfig)[f.name]
    kinds = {int: "N", float: "X"}
    return next((kinds[t] for t in (hint, *typing.get_args(hint)) if t in kinds), "TEXT")


def options_markdown() -> str:
    """The training options as a Markdown table, from the same field help as ``--help`` (docs/cli.md holds it;
    a test keeps the two equal)."""
    rows = ["| option | default | what it sets |", "| --- | --- | --- |"]
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            flag += f" / --no-{f.name.replace('_', '-')}"
        shown = _default_note(default).removeprefix(" (default: ").removesuffix(")") or "unset"
        choices = f" One of: {', '.join(f.metadata['choices'])}." if f.metadata["choices"] else ""
        text = f.metadata["help"].replace("|", "\\|")
        rows.append(f"| `{flag}` | `{shown}` | {text[0].upper()}{text[1:]}.{choices} |")
    return "\n".join(rows)


def config_from_args(argv: Sequence[str] | None = None) -> tuple[TrainConfig, bool]:
    args = vars(build_parser().parse_args(argv))
    preset, force = args.pop("preset"), args.pop("force")
    return TrainConfig.from_overrides({k: v for k, v in args.items() if v is not None}, preset=preset), force


@command
def main(argv: Sequence[str] | None = None) -> int:
    config, force = config_from_args(argv)
    from atlib.train import train  # torch and the data stack load only when a command runs

    run = train(config, force=force)
    if os.environ.get("RANK", "0") == "0":
        print(f"run: {run.path}")
        print(f"metrics: {json.dumps(run.metrics, indent=1)}")
    return 0
