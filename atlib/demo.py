"""``python -m atlib demo``: a reduced reproduction of the paper, offline, on a CPU, ending with its claims report.

The demo is a grid (``grids/demo.yaml``) run as a sweep in ``outputs/demo``: the inputs its ``prepare:`` section
asks for are made (a *stand-in* for synthesized data, i.e. held-out real training images in the generated-data
format, labelled "standin" everywhere; a CIFAR-10-C generated from test images), its runs (NT and AT at two
budgets and three seeds, NT and AT with the stand-in) are trained through the sweep's local launcher, which
prints one line per finished epoch, every report notebook is executed over them, and a summary ends with the
claims table (:mod:`atlib.claims`): which of the paper's findings these runs reproduce. Each step skips work
already done, so re-running finishes what an interrupted run left and otherwise only re-renders.
Other grids: ``--quick`` (``grids/quick.yaml``, a one-minute smoke test), ``--study`` (``grids/study.yaml``, a
longer CPU study with three seeds), or ``--grid FILE``.

The paper's full grid (ResNet-18, 120 epochs, five seeds) is for GPUs:
``python -m atlib.sweep --grid paper --launcher slurm`` (or ``--launcher local``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from atlib.cli import command
from atlib.config import DATA_ROOT_RULE, TrainConfig, convert_fields
from atlib.errors import AtlibError
from atlib.notebooks import repo_relative, report_notebooks
from atlib.store.io import atomic_path, write_json
from atlib.sweep.grid import Grid, expand, load_grid
from atlib.sweep.jobs import SweepDir
from atlib.sweep.launch import launch_local, visible_gpus
from atlib.sweep.prepare import prepare_inputs
from atlib.sweep.report import render
from atlib.sweep.status import TO_SUBMIT, conflicts_message, summary_line, survey


@dataclass
class DemoSettings:
    """Which grid the demo runs, where, and how."""

    grid: str = "demo"  # a built-in grid (demo, quick, study) or a grid file
    out: Path | None = None  # None: outputs/<grid name>
    notebooks: tuple[str, ...] | None = None  # None: every report notebook
    data_root: str | None = None  # the only place searched when given; else $ATLIB_DATA, ./data (atlib.data.sources)
    device: str = "auto"
    jobs: int | None = None  # runs trained at once (None: one per CPU core on the CPU, one per GPU)
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields fixed for every run (text is converted)


def demo_grid(settings: DemoSettings) -> Grid:
    """The grid with the settings' device, data folder and overrides fixed for every run. A field the grid varies
    (``product``/``include``) cannot be overridden: that is another grid."""
    grid = load_grid(settings.grid)
    overrides = convert_fields(TrainConfig, settings.overrides, "--set")
    varied = sorted(set(overrides) & (set(grid.product) | {k for entry in grid.include for k in entry}))
    if varied:
        raise ValueError(f"--set {', '.join(varied)}: the grid {grid.name!r} varies {'it' if len(varied) == 1 else 'them'}; "
                         f"copy {grid.path} to a file of your own, change it there and pass --grid FILE")
    extra = {"device": settings.device, **({"data_root": settings.data_root} if settings.data_root else {})}
    return dataclasses.replace(grid, fixed={**grid.fixed, **extra, **overrides})


def check_notebooks(names: Sequence[str] | None) -> list[str]:
    """The notebooks to render (default: every report notebook); an unknown name is refused before any work."""
    shipped = report_notebooks()
    if names is None:
        return shipped
    unknown = [name for name in names if name not in shipped]
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown} for --notebooks; choose among {', '.join(shipped)} "
                         "(or give --notebooks alone to render none)")
    return list(names)


def devices(settings: DemoSettings) -> tuple[list[int], int]:
    """(GPUs to use, runs at once on each; none: the CPU): one run per GPU, else one per CPU core, or ``--jobs``."""
    gpus = [] if settings.device == "cpu" else visible_gpus()
    return gpus, settings.jobs or (1 if gpus else max(1, os.cpu_count() or 1))


def run_demo(settings: DemoSettings, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Every step of the demo; returns what it produced (also written to ``<out>/summary.json`` and ``summary.md``).

    Everything that can be checked cheaply (the grid, the overrides, the notebook names, run folders holding
    another config) is checked before anything is made or trained."""
    start = time.time()
    say = lambda line: echo(f"[demo] {line}")  # noqa: E731
    grid = demo_grid(settings)
    sweep = SweepDir(Path(settings.out) if settings.out is not None else Path("outputs") / grid.name)
    configs = expand(grid, sweep.runs)
    notebooks = check_notebooks(settings.notebooks)
    states = survey(configs, sweep)
    if conflicts_message(states):
        raise ValueError(conflicts_message(states))
    say(f"grid {grid.name} ({repo_relative(grid.path) if grid.path else 'given'}): {len(configs)} runs in "
        f"{repo_relative(sweep.runs)} ({summary_line(states)})")

    prepared = prepare_inputs(grid, sweep.out, say)
    todo = [s.config for s in states if s.state in TO_SUBMIT]
    if todo:
        gpus, at_once = devices(settings)
        where = f"on GPUs {','.join(map(str, gpus))}" if gpus else "on the CPU"
        say(f"training {len(todo)} run(s), {at_once} at a time {where}; job logs in {repo_relative(sweep.logs)}")
        outcomes = launch_local(sweep, grid, configs, todo, gpus=gpus, runs_per_gpu=at_once, echo=say)
        failed = sorted(name for name, outcome in outcomes.items() if outcome != "done")
        if failed:
            raise AtlibError(f"{len(failed)} run(s) failed: {', '.join(failed)} (their logs above); "
                             "run the same command again to resume them")

    from atlib.store.runs import group_seeds, load_run

    runs = [load_run(Path(c.out_dir) / c.run_name) for c in configs]
    unfinished = [run.name for run in runs if not run.complete]
    if unfinished:
        raise AtlibError(f"run(s) not finished: {', '.join(unfinished)}; another process may still train them "
                         f"(see python -m atlib.sweep --grid {settings.grid} --out {sweep.out} --status)")
    rendered = render(sweep, notebooks, say, jobs=settings.jobs or max(1, os.cpu_count() or 1)) if notebooks else {}

    from atlib.claims import claims_report

    claims = claims_report(group_seeds(runs))
    summary = _summary(grid, sweep, runs, prepared, rendered, claims, time.time() - start)
    write_json(sweep.out / "summary.json", summary)
    with atomic_path(sweep.out / "summary.md") as tmp:
        tmp.write_text(format_summary(summary))
    return summary


def wilson_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on ``n`` images (sound near 0 and 1, unlike +-2 SE)."""
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _robust(run: Any) -> dict[str, Any]:
    """Robust accuracy per budget with the number of attacked images and its 95% interval."""
    n = int(run.robust_eval.get("n", run.config.robust_eval_n))
    return {eps: {"acc": acc, "n": n, "interval": list(wilson_interval(acc, n)) if n else None}
            for eps, acc in run.robust_acc.items()}


def _summary(grid: Grid, sweep: SweepDir, runs: list[Any], prepared: dict[str, Path], notebooks: dict[str, Path | str],
             claims: Any, seconds: float) -> dict[str, Any]:
    figures = sorted(repo_relative(p) for p in sweep.figures.rglob("*") if p.suffix in (".html", ".png")) \
        if sweep.figures.is_dir() else []
    synthetic = sorted({(run.inputs.get("synthetic") or {}).get("path") or run.config.synthetic
                        for run in runs if run.config.uses_synthetic})
    cifar_c = [run.cifar_c["source"] for run in runs if run.cifar_c]
    inputs = runs[0].inputs
    return {
        "grid": grid.name,
        "open": [{"path": repo_relative(sweep.out / "summary.md"), "what": "this summary: every run's accuracies and the claims table"}]
        + [{"path": repo_relative(path), "what": "the learning-profile explorer, offline in any browser: slide through training, "
            "pick an image"} for path in sorted(sweep.figures.glob("*/explorer.html"))]
        + ([{"path": repo_relative(sweep.notebooks), "what": "the executed notebooks (JupyterLab), their figures in "
             + repo_relative(sweep.figures)}] if notebooks else []),
        "data": {"cifar": inputs.get("data_root"), "neg": inputs.get("neg_path")},
        "runs": [
            {"name": run.name, "label": run.label, "path": repo_relative(run.path), "clean_acc": run.clean_acc,
             "robust_acc": _robust(run), "neg_acc": run.neg_acc,
             "cifar_c": run.cifar_c.get("seed_paper_mean"),
             "train_seconds": round(run.meta.get("wall_time_s", 0.0), 1)}
            for run in runs
        ],
        "synthetic": None if not synthetic else {
            "path": ", ".join(repo_relative(p) for p in synthetic),
            "kind": "standin (held-out real CIFAR-10 images)" if "standin" in prepared else "given"},
        "cifar_c": {"root": repo_relative(cifar_c[0]["root"]), "kind": cifar_c[0]["kind"]} if cifar_c else None,
        "notebooks": {name: result if isinstance(result, str) else repo_relative(result) for name, result in notebooks.items()},
        "figures": figures,
        "claims": claims.to_dict(),
        "claims_table": claims.markdown(),
        "seconds": round(seconds, 1),
    }


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as Markdown: what to open first, the runs, data sources, notebooks and figures, the claims
    table, the time taken."""
    lines = [f"# atlib demo summary (grid {summary['grid']})", "", "## Open these", ""]
    lines += [f"- `{item['path']}`: {item['what']}" for item in summary["open"]]
    lines += ["", "## Runs", "",
              "| run | label | clean acc | robust acc (PGD; 95% interval, images) | CIFAR-10-NEG acc | CIFAR-C acc (19) | training time |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary["runs"]:
        robust = ", ".join(f"ε={k}/255: {_pct(v['acc'])} ({_pct(v['interval'][0])}-{_pct(v['interval'][1])}, n={v['n']})"
                           if v["interval"] else f"ε={k}/255: {_pct(v['acc'])}" for k, v in r["robust_acc"].items()) or "-"
        lines.append(f"| {r['name']} | {r['label']} | {_pct(r['clean_acc'])} | {robust} | {_pct(r['neg_acc'])} | "
                     f"{_pct(r['cifar_c'])} | {r['train_seconds']:.0f}s |")
    data, synthetic, cifar_c = summary["data"], summary["synthetic"], summary["cifar_c"]
    lines += ["", f"- Data: `{data['cifar']}`; CIFAR-10-NEG: " + (f"`{data['neg']}`" if data["neg"] else "not found, not recorded"),
              f"- Synthesized data: {synthetic['kind']}: `{synthetic['path']}`" if synthetic else "- Synthesized data: none",
              f"- CIFAR-10-C: {cifar_c['kind']}: `{cifar_c['root']}`" if cifar_c else "- CIFAR-10-C: none",
              "", "## Notebooks", ""]
    lines += [f"- {name}: `{result}`" if not result.startswith("FAILED") else f"- {name}: {result}"
              for name, result in summary["notebooks"].items()]
    lines += ["", f"## Figures ({len(summary['figures'])} files)", ""] + [f"- `{f}`" for f in summary["figures"]]
    lines += ["", "## Do these runs reproduce the paper? (`python -m atlib claims`)", "", summary["claims_table"]]
    minutes, secs = divmod(summary["seconds"], 60)
    lines += ["", f"Total time: {int(minutes)} min {secs:.0f} s", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m atlib demo", description=__doc__.split("\n\n")[1],
                                     epilog=__doc__.split("\n\n")[-1])
    parser.add_argument("--grid", default="demo", help="a built-in grid (demo, quick, study) or a grid file (default demo)")
    parser.add_argument("--quick", dest="grid", action="store_const", const="quick",
                        help="grid quick: one seed, tiny subsets, about a minute (answers no claim)")
    parser.add_argument("--study", dest="grid", action="store_const", const="study",
                        help="grid study: three seeds on 3,000 images, about 41 minutes on 2 cores")
    parser.add_argument("--out", type=Path, help="output folder (default outputs/<grid name>)")
    parser.add_argument("--notebooks", nargs="*", help="report notebooks to execute (default all; none: give the flag alone)")
    parser.add_argument("--data-root", help=f"folder (or archive) holding the dataset: {DATA_ROOT_RULE}")
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    parser.add_argument("--jobs", type=int, help="runs trained at once (default: one per CPU core, or one per GPU)")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("FIELD", "VALUE"),
                        help="fix a TrainConfig field of every run, e.g. --set epochs 6 (converted by the field's type)")
    return parser


def settings_from_args(argv: Sequence[str] | None = None) -> DemoSettings:
    args = build_parser().parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    return DemoSettings(grid=args.grid, out=args.out, notebooks=None if args.notebooks is None else tuple(args.notebooks),
                        data_root=args.data_root, device=args.device, jobs=args.jobs, overrides=dict(args.set))


@command
def main(argv: Sequence[str] | None = None) -> int:
    summary = run_demo(settings_from_args(argv))
    print()
    print(format_summary(summary))
    return 1 if any(str(v).startswith("FAILED") for v in summary["notebooks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
