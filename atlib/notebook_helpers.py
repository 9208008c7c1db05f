"""What the paper's notebooks call inside the kernel: where the repository and the runs are, their shared
prologue, and how they show figures and notes.

A notebook runs wherever it is opened: JupyterLab starts its kernel in ``notebooks/``, papermill in the
repository root, a user anywhere. Every path a notebook takes (``runs``, ``output_dir``, ``export``) is
therefore resolved against the repository root (:func:`repo_root`), and ``runs`` left at None is the runs
folder written last (:func:`latest_runs_folder`). Running the notebooks (papermill) is :mod:`atlib.notebooks`;
this module needs IPython only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from atlib.plots.style import NOT_STATED

OUTPUTS = "outputs"  # where the demo, training and sweeps write their runs folders, under the repository root
RUNS_FOLDER = "runs"  # the name of a folder of run folders: outputs/runs, outputs/demo/runs, <sweep>/runs
SEARCH_DEPTH = 4  # outputs/<a>/<b>/<c>/runs at most


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The repository root: the first folder, from ``start`` (default: the working directory) upwards, that
    holds both ``atlib/`` and ``notebooks/``; else the checkout this atlib was imported from; else ``start``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "atlib").is_dir() and (folder / "notebooks").is_dir():
            return folder
    installed = Path(__file__).resolve().parents[1]
    return installed if (installed / "notebooks").is_dir() else here


def at_root(path: str | os.PathLike, root: Path | None = None) -> Path:
    """``path`` resolved against the repository root (absolute paths stay as they are)."""
    path = Path(os.path.expanduser(str(path)))
    return path if path.is_absolute() else (root or repo_root()) / path


def shown(path: str | os.PathLike, root: Path | None = None) -> str:
    """``path`` as a reader should see it: relative to the repository root when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to((root or repo_root()).resolve()))
    except ValueError:
        return str(path)


def runs_folders(root: Path | None = None) -> list[Path]:
    """The folders named ``runs`` under ``<root>/outputs`` that hold at least one finished run, the most
    recently written first (by the newest of their finished runs)."""
    from atlib.store.runs import find_run_dirs, run_status

    base = (root or repo_root()) / OUTPUTS
    newest: dict[Path, float] = {}
    for folder, subdirs, _ in os.walk(base):
        depth = len(Path(folder).relative_to(base).parts)
        if depth >= SEARCH_DEPTH:
            subdirs.clear()
        if Path(folder).name != RUNS_FOLDER:
            continue
        subdirs.clear()  # the run folders themselves: nothing further down is a runs folder
        done = [p for p in find_run_dirs(folder) if run_status(p) == "done"]
        if done:
            newest[Path(folder)] = max(p.stat().st_mtime for p in done)
    return sorted(newest, key=newest.__getitem__, reverse=True)


def latest_runs_folder(root: Path | None = None) -> Path:
    """The most recently written runs folder with finished runs (:func:`runs_folders`); a clear error when none."""
    root = root or repo_root()
    found = runs_folders(root)
    if not found:
        raise FileNotFoundError(
            f"no runs folder with finished runs under {root / OUTPUTS}: run `make demo` (it writes outputs/demo/runs), "
            "train with `python -m atlib.train` (outputs/runs), or set `runs` to a folder of runs")
    return found[0]


def resolve_runs(runs: str | os.PathLike | None, root: Path | None = None) -> str:
    """The ``runs`` parameter as a path (or glob) :func:`atlib.store.runs.load_runs` reads: None is
    :func:`latest_runs_folder`; a relative path is taken from the repository root. Prints which folder it is,
    and refuses, listing the runs folders that exist, when it matches no run."""
    from atlib.store.runs import find_run_dirs

    root = root or repo_root()
    if runs is None:
        folder = latest_runs_folder(root)
        print(f"runs: {shown(folder, root)} (the most recently written runs folder under {OUTPUTS}/; "
              "set `runs` to choose another)")
        return str(folder)
    path = at_root(runs, root)
    if not find_run_dirs(path):
        folders = [shown(p, root) for p in runs_folders(root)]
        there = ("runs folders with finished runs here: " + ", ".join(folders)) if folders else \
            f"there is no runs folder with finished runs under {OUTPUTS}/ yet: run `make demo` or `python -m atlib.train`"
        raise FileNotFoundError(f"no runs match {str(runs)!r} (looked in {path}); {there}. "
                                "Leave `runs = None` for the most recent one.")
    print(f"runs: {shown(path, root)}")
    return str(path)


def planned_seeds(group: Any) -> list[int] | None:
    """The seeds a group's runs were planned with (``Run.plan``, from the run's meta data: ``{"grid": ..., "seeds": [...]}``,
    written by the sweep and the demo); None when no run of the group records a plan."""
    plans = [r.meta.get("plan") for r in group.runs if isinstance(r.meta.get("plan"), dict)]
    seeds = sorted({int(s) for p in plans for s in p.get("seeds", ())})
    return seeds if plans else None


def missing_seeds(groups: Sequence[Any], expected_seeds: int | Sequence[int] | None = None) -> list[str]:
    """Sentences about seeds a group lacks: against ``expected_seeds`` (a count or the seed values) when
    given, else against the seeds its runs' own plan promised; a group without a plan gets none."""
    notes = []
    for g in groups:
        if expected_seeds is None:
            wanted = planned_seeds(g)
        else:
            wanted = list(range(expected_seeds)) if isinstance(expected_seeds, int) else list(expected_seeds)
        lacking = sorted(set(wanted or ()) - set(g.seeds))
        if lacking:
            source = "expected_seeds" if expected_seeds is not None else "its plan"
            notes.append(f"{g.label} ({g.config.dataset}): seeds {lacking} missing (have {g.seeds}; {source}: {sorted(set(wanted))})")
    return notes


def figure(build: Callable[[Any], Any], df: Any, groups: Sequence[Any] | None = None, threshold: Any = NOT_STATED) -> Any:
    """The chart ``build(df)`` with its scale in its subtitle (:func:`atlib.plots.style.with_scale`), computed
    from the ``groups`` the frame's rows come from; ``threshold`` (None: each group's default) for figures
    whose shares depend on it."""
    from atlib.plots.style import scale_of, with_scale

    chart = build(df)
    if not groups:
        return chart
    return with_scale(chart, scale_of(drawn_groups(groups, df), threshold))


def drawn_groups(groups: Sequence[Any], df: Any) -> list[Any]:
    """The groups whose rows a frame holds (by ``label`` and ``dataset`` where it has those columns)."""
    mine = list(groups)
    columns = getattr(df, "columns", ())
    if "label" in columns:
        mine = [g for g in mine if g.label in set(df["label"])] or mine
    if "dataset" in columns:
        mine = [g for g in mine if g.config.dataset in set(df["dataset"])] or mine
    return mine


def show_figure(build: Callable[[Any], Any], df: Any, output_dir: str | os.PathLike, name: str,
                empty: str = "no data for this figure", groups: Sequence[Any] | None = None,
                threshold: Any = NOT_STATED) -> None:
    """Build a chart from a frame (:func:`figure`: with its scale, from ``groups``), save it as
    ``<output_dir>/<name>.html`` and ``.png`` (``output_dir`` taken from the repository root), show the PNG.

    The PNG is what the notebook displays: it renders offline, in untrusted and in static viewers
    alike; the HTML beside it is the interactive version. With an empty frame, shows ``empty``
    instead and writes nothing (the notebooks state what is missing rather than failing).
    """
    from IPython.display import Image, Markdown, display

    from atlib.plots.style import save_chart

    if df is None or len(df) == 0:
        display(Markdown(f"**{name}: not drawn.** {empty}"))
        return
    html, png = save_chart(figure(build, df, groups, threshold), at_root(output_dir) / name)
    display(Image(filename=str(png)), Markdown(f"Saved `{shown(html)}` (interactive) and `{shown(png)}`."))


def show_notes(notes: Sequence[str], title: str = "What these runs lack") -> None:
    """Display sentences (e.g. from ``analysis.describe_missing``) as a bulleted list under ``title``."""
    from IPython.display import Markdown, display

    body = "\n".join(f"- {n}" for n in notes) if notes else "- nothing: every planned run and evaluation is present"
    display(Markdown(f"**{title}:**\n\n{body}"))


def show_thresholds(groups: Sequence[Any], threshold: float | None) -> None:
    """Print the non-monotonicity threshold each setting's categories use: ``threshold``, or its
    ``atlib.metrics.default_threshold`` when None (it depends on the setting's number of record points)."""
    from atlib.metrics import default_threshold

    for g in groups:
        if g.num_points >= 2:
            used = default_threshold(g.num_points) if threshold is None else threshold
            print(f"{g.label}: non-monotonicity threshold {used:.3g} ({g.num_points} record points)")


def load_groups(runs: str | os.PathLike | None = None, include_synthetic: bool = True,
                expected_seeds: int | Sequence[int] | None = None, datasets: Sequence[str] | None = None) -> list[Any]:
    """The analysis notebooks' prologue: find the runs (:func:`resolve_runs`), load and group them, say what
    was found, what was left out and what is missing (``analysis.describe_missing``, and seeds against
    :func:`missing_seeds`). Returns the groups to analyse."""
    from atlib.store.runs import group_seeds, load_runs

    found = group_seeds(load_runs(resolve_runs(runs)))
    groups = [g for g in found if include_synthetic or not g.config.uses_synthetic]
    print(f"{len(groups)} run groups: " + ", ".join(f"{g.label} ({len(g.runs)} seeds)" for g in groups))
    if len(groups) < len(found):
        print(f"left out {len(found) - len(groups)} groups trained with synthesized data (include_synthetic=False)")
    show_notes(lacking(found, expected_seeds, datasets))
    return groups


def lacking(groups: Sequence[Any], expected_seeds: int | Sequence[int] | None = None,
            datasets: Sequence[str] | None = None) -> list[str]:
    """What the runs lack: seeds against their plan or ``expected_seeds`` (:func:`missing_seeds`), then
    settings, evaluations and record points (:func:`atlib.analysis.describe_missing`)."""
    from atlib import analysis

    return missing_seeds(groups, expected_seeds) + analysis.describe_missing(groups, datasets=datasets)
