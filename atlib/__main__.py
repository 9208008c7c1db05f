"""``python -m atlib COMMAND [ARGS]``: one entry point for atlib's command-line tools.

``python -m atlib demo`` is the README's main job; every other command is the module of the same
name (``python -m atlib train ...`` is ``python -m atlib.train ...``). Every command fails the same way
(:mod:`atlib.cli`): one line and exit code 2, the traceback with ``ATLIB_DEBUG=1``.
"""

from __future__ import annotations

import runpy
import sys

from atlib.cli import command

COMMANDS = {
    "demo": ("atlib.demo", "reduced reproduction on CPU: train, evaluate, execute every notebook, summarise"),
    "train": ("atlib.train", "train (or resume) one configuration, recording every test prediction"),
    "evaluate": ("atlib.evaluate", "CIFAR-C and AutoAttack results for finished runs; evaluate or record checkpoints "
                                   "trained elsewhere"),
    "claims": ("atlib.claims", "does a set of runs reproduce the paper? each claim's statistics and verdict"),
    "explorer": ("atlib.explorer", "the learning-profile explorer of a set of runs as one self-contained HTML file"),
    "corruptions": ("atlib.corruptions", "generate CIFAR-10-C / CIFAR-100-C from the published parameters"),
    "notebooks": ("atlib.notebooks", "execute one notebook with parameters (papermill)"),
    "sweep": ("atlib.sweep", "run a grid of runs (the paper's or your own) on Slurm or local GPUs; status and report"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    return (f"usage: python -m atlib COMMAND [ARGS]\n\ncommands:\n{rows}\n\n"
            "'python -m atlib COMMAND --help' for a command's options; ATLIB_DEBUG=1 shows the traceback of a failure.")


@command
def main(argv: list[str]) -> int:
    """Run ``argv[0]``'s module as ``__main__`` (it exits with its own status); a failure to even import it
    goes through the same boundary as the commands' own failures."""
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, *rest = argv
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = COMMANDS[name][0]
    sys.argv = [f"python -m atlib {name}", *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
