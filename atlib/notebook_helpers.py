"""What the paper's notebooks call inside the kernel: their shared prologue and how they show figures and notes.

Running the notebooks (papermill) is :mod:`atlib.notebooks`; this module needs IPython only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence


def show_figure(build: Callable[[Any], Any], df: Any, output_dir: str | os.PathLike, name: str,
                empty: str = "no data for this figure") -> None:
    """Build a chart from a frame, save it as ``<output_dir>/<name>.html`` and ``.png``, show the PNG.

    The PNG is what the notebook displays: it renders offline, in untrusted and in static viewers
    alike; the HTML beside it is the interactive version. With an empty frame, shows ``empty``
    instead and writes nothing (the notebooks state what is missing rather than failing).
    """
    from IPython.display import Image, Markdown, display

    from atlib.plots.style import save_chart

    if df is None or len(df) == 0:
        display(Markdown(f"**{name}: not drawn.** {empty}"))
        return
    html, png = save_chart(build(df), Path(output_dir) / name)
    display(Image(filename=str(png)), Markdown(f"Saved `{html}` (interactive) and `{png}`."))


def show_notes(notes: Sequence[str], title: str = "What these runs lack") -> None:
    """Display sentences (e.g. from ``analysis.describe_missing``) as a bulleted list under ``title``."""
    from IPython.display import Markdown, display

    body = "\n".join(f"- {n}" for n in notes) if notes else "- nothing: every expected run and evaluation is present"
    display(Markdown(f"**{title}:**\n\n{body}"))


def show_thresholds(groups: Sequence[Any], threshold: float | None) -> None:
    """Print the non-monotonicity threshold each setting's categories use: ``threshold``, or its
    ``atlib.metrics.default_threshold`` when None (it depends on the setting's number of record points)."""
    from atlib.metrics import default_threshold

    for g in groups:
        if g.num_points >= 2:
            used = default_threshold(g.num_points) if threshold is None else threshold
            print(f"{g.label}: non-monotonicity threshold {used:.3g} ({g.num_points} record points)")


def load_groups(runs: str, include_synthetic: bool = True, expected_seeds: int = 5,
                datasets: Sequence[str] | None = None) -> list[Any]:
    """The analysis notebooks' prologue: load and group the runs, say what was found, what was left
    out and (via ``analysis.describe_missing``) what is missing. Returns the groups to analyse."""
    from atlib import analysis
    from atlib.store.runs import group_seeds, load_runs

    found = group_seeds(load_runs(runs))
    groups = [g for g in found if include_synthetic or not g.config.uses_synthetic]
    print(f"{len(groups)} run groups from {runs!r}: " + ", ".join(f"{g.label} ({len(g.runs)} seeds)" for g in groups))
    if len(groups) < len(found):
        print(f"left out {len(found) - len(groups)} groups trained with synthesized data (include_synthetic=False)")
    show_notes(analysis.describe_missing(found, datasets=datasets, seeds=expected_seeds))
    return groups
