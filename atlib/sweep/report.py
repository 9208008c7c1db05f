"""``--render``: execute every analysis notebook over a sweep's runs into ``<out>/report/``, ending with
the claims report (``06_claims``: does the sweep reproduce the paper?)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from atlib.runs import find_run_dirs
from atlib.sweep.jobs import SweepDir

NOTEBOOKS = ("01_entropy", "02_point_categories", "03_cifar10_neg", "04_synthesized_data", "05_profile_explorer", "06_claims")


def render(sweep: SweepDir, notebooks: Sequence[str] = NOTEBOOKS, echo: Callable[[str], None] = print) -> dict[str, Path | str]:
    """Execute each notebook into ``<out>/report/<notebook>.ipynb``, offering it ``runs=<out>/runs/*``,
    ``output_dir=<out>/report/<notebook>`` (its figures) and ``export=<out>/report/<notebook>.html``; a
    notebook gets those of them it declares. A failing notebook does not stop the others: returns
    ``name -> executed notebook path`` or the error message."""
    from atlib.notebooks import load_notebook, notebook_parameters, run_notebook  # papermill only when rendering

    if not find_run_dirs(sweep.runs):
        raise FileNotFoundError(f"no runs in {sweep.runs} yet: launch the sweep first (--launcher local|slurm)")
    sweep.report.mkdir(parents=True, exist_ok=True)
    results: dict[str, Path | str] = {}
    for name in notebooks:
        offered = {"runs": str(sweep.runs / "*"), "output_dir": str(sweep.report / name),
                   "export": str(sweep.report / f"{name}.html")}
        try:
            declared = notebook_parameters(load_notebook(name))
            parameters = {k: v for k, v in offered.items() if k in declared}
            results[name] = run_notebook(name, parameters, sweep.report / f"{name}.ipynb")
            echo(f"rendered {name} -> {results[name]}")
        except Exception as err:  # noqa: BLE001 - a notebook's failure is reported, the others still run
            results[name] = f"{type(err).__name__}: {err}"
            echo(f"FAILED   {name}: {results[name]}")
    return results
