"""``--render``: execute every report notebook (:func:`atlib.notebooks.report_notebooks`) over a sweep's runs,
ending with the claims report (``06_claims``: does the sweep reproduce the paper?). The demo renders through
this too, so a sweep's report and the demo's have one layout: executed notebooks in ``<out>/notebooks/``,
figures in ``<out>/figures/<notebook>/``, the explorer's kernel-free copy in
``<out>/figures/05_profile_explorer/explorer.html``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from atlib.store.runs import find_run_dirs
from atlib.sweep.jobs import SweepDir


def render(sweep: SweepDir, notebooks: Sequence[str] | None = None, echo: Callable[[str], None] = print,
           jobs: int = 1) -> dict[str, Path | str]:
    """Execute each notebook (default: every report notebook) into ``<out>/notebooks/<notebook>.ipynb``, ``jobs``
    at a time, offering it ``runs=<out>/runs``, ``output_dir=<out>/figures/<notebook>`` (its figures) and
    ``export=<out>/figures/<notebook>/explorer.html``, as paths relative to the repository where they lie in it; a
    notebook gets those of them it declares. A failing notebook does not stop the others: returns
    ``name -> executed notebook path`` or the error message (see :func:`atlib.notebooks.render_notebooks`)."""
    from atlib.notebooks import render_notebooks, repo_relative, report_notebooks  # papermill only when rendering

    if not find_run_dirs(sweep.runs):
        raise FileNotFoundError(f"no runs in {sweep.runs} yet: launch the sweep first (--launcher local|slurm)")
    offered = lambda name: {"runs": repo_relative(sweep.runs), "output_dir": repo_relative(sweep.figures / name),  # noqa: E731
                            "export": repo_relative(sweep.figures / name / "explorer.html")}
    names = report_notebooks() if notebooks is None else list(notebooks)
    sweep.notebooks.mkdir(parents=True, exist_ok=True)
    return render_notebooks(names, offered, sweep.notebooks, echo, jobs=jobs)
