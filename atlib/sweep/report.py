"""``--render``: execute every analysis notebook over a sweep's runs into ``<out>/report/``, ending with
the claims report (``06_claims``: does the sweep reproduce the paper?)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from atlib.store.runs import find_run_dirs
from atlib.sweep.jobs import SweepDir

NOTEBOOKS = ("01_entropy", "02_point_categories", "03_cifar10_neg", "04_synthesized_data", "05_profile_explorer", "06_claims")


def render(sweep: SweepDir, notebooks: Sequence[str] = NOTEBOOKS, echo: Callable[[str], None] = print) -> dict[str, Path | str]:
    """Execute each notebook into ``<out>/report/<notebook>.ipynb``, offering it ``runs=<out>/runs/*``,
    ``output_dir=<out>/report/<notebook>`` (its figures) and ``export=<out>/report/<notebook>.html``; a
    notebook gets those of them it declares. A failing notebook does not stop the others: returns
    ``name -> executed notebook path`` or the error message (see :func:`atlib.notebooks.render_notebooks`)."""
    from atlib.notebooks import render_notebooks  # papermill only when rendering

    if not find_run_dirs(sweep.runs):
        raise FileNotFoundError(f"no runs in {sweep.runs} yet: launch the sweep first (--launcher local|slurm)")
    sweep.report.mkdir(parents=True, exist_ok=True)
    offered = lambda name: {"runs": str(sweep.runs / "*"), "output_dir": str(sweep.report / name),  # noqa: E731
                            "export": str(sweep.report / f"{name}.html")}
    return render_notebooks(notebooks, offered, sweep.report, echo)
