"""What a long command shows while it runs: one line per finished epoch or stage, always, and a progress bar
on a terminal only.

The lines are what a Slurm log or a piped output keeps, so they are printed (and flushed) whether or not a
bar is shown; a bar on a file would only fill it with carriage returns, so bars are shown on a terminal only
(tqdm's ``disable=None``).
"""

from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm.auto import tqdm


def bar(iterable: Iterable[Any] | None = None, *, show: bool = True, **options: Any) -> tqdm:
    """A tqdm bar over ``iterable``, shown when ``show`` and stderr is a terminal."""
    return tqdm(iterable, disable=None if show else True, **options)


def line(text: str) -> None:
    """Print ``text`` as one line on stdout, flushed, without breaking a bar being drawn."""
    with tqdm.external_write_mode(file=sys.stdout):
        print(text, flush=True)


def duration(seconds: float) -> str:
    """``1:02:03`` or ``2:03``: a time left or taken, to the second."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
