"""``python -m atlib demo``: a reduced reproduction of the paper, offline, on a CPU, ending with its claims report.

It trains NT and AT (two ε, several seeds) with the small CNN on a CIFAR-10 subset, plus NT and AT on
a synthesized-data set (by default a *stand-in*: held-out real training images packaged in the
generated-data format, labelled "standin" everywhere), generates a small CIFAR-10-C from the
test subset, evaluates every run on it, executes every notebook into ``<out>/notebooks/`` with
figures in ``<out>/figures/<notebook>/``, and ends with a summary whose last part is the claims
table (:mod:`atlib.claims`): which of the paper's findings these runs reproduce. Each step skips
work already done, so re-running finishes what an interrupted run left and otherwise only re-renders.
Presets (``--preset``, or ``--quick`` / ``--study``): ``demo`` (the README's main job), ``quick`` (a
one-minute smoke test) and ``study`` (a longer CPU study with three seeds).

The paper's full grid (ResNet-18, 120 epochs, five seeds) is for GPUs:
``python -m atlib.sweep --grid paper --launcher slurm`` (or ``--launcher local``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from atlib.cli import command
from atlib.config import PRESETS, TrainConfig
from atlib.data.cifar import locate_cifar
from atlib.data.extra import locate_cifar10_neg
from atlib.store.io import atomic_path, read_json, write_json
from atlib.notebooks import REPO_ROOT, available_notebooks, render_notebooks


@dataclass(frozen=True)
class DemoPlan:
    """The demo half of a preset (its training half is ``PRESETS[name]``): what is trained and generated."""

    seeds: tuple[int, ...]
    epsilons: tuple[float, ...]  # AT budgets (1/255 units) on the original data; NT always runs
    synthetic_epsilons: tuple[float, ...]  # AT budgets with synthesized data (NT runs with it too, unless no seeds)
    synthetic_seeds: tuple[int, ...]  # seeds of the runs with synthesized data (the stand-in answers no claim: fewer)
    standin_size: int  # held-out real training images in the stand-in
    cifar_c_size: int  # test images corrupted for the generated CIFAR-10-C (a subset of the test subset)
    cifar_c_workers: int | None = None  # processes generating CIFAR-C (None: all cores)


PLANS: dict[str, DemoPlan] = {
    "demo": DemoPlan(seeds=(0, 1), epsilons=(2.0, 8.0), synthetic_epsilons=(8.0,), synthetic_seeds=(0,),
                     standin_size=5000, cifar_c_size=250),
    "quick": DemoPlan(seeds=(0,), epsilons=(8.0,), synthetic_epsilons=(8.0,), synthetic_seeds=(0,), standin_size=200,
                      cifar_c_size=10, cifar_c_workers=1),
    # claims 1-4 and 6 with three seeds; no stand-in runs (claim 5 needs real synthesized data: --synthetic PATH --synthetic-seeds 0 1 2)
    "study": DemoPlan(seeds=(0, 1, 2), epsilons=(2.0, 8.0), synthetic_epsilons=(8.0,), synthetic_seeds=(),
                      standin_size=5000, cifar_c_size=1000),
}


@dataclass
class DemoSettings:
    """What the demo trains and renders: a preset's plan and training values, then these changes."""

    preset: str = "demo"  # a key of PLANS and of atlib.config.PRESETS
    out: Path | None = None  # None: outputs/<preset>
    seeds: tuple[int, ...] | None = None  # None (here and below): the preset's
    epsilons: tuple[float, ...] | None = None
    synthetic_epsilons: tuple[float, ...] | None = None
    synthetic_seeds: tuple[int, ...] | None = None
    standin_size: int | None = None
    cifar_c_size: int | None = None
    cifar_c_workers: int | None = None
    synthetic: str | None = None  # a generated .npz (Wang et al. 2023 format); None: build the stand-in
    cifar_c: str | None = None  # an existing CIFAR-10-C folder (released or generated); None: generate one
    notebooks: tuple[str, ...] | None = None  # None: every shipped notebook
    data_root: str | None = None  # searched first; then $ATLIB_DATA, ./data, ../shared/data (atlib.data.sources)
    device: str = "auto"
    jobs: int | None = None  # runs trained at once (None: see default_jobs)
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields over PRESETS[preset] (text is converted)

    def __post_init__(self) -> None:
        if self.preset not in PLANS or self.preset not in PRESETS:
            raise ValueError(f"unknown demo preset {self.preset!r}; choose one of {', '.join(PLANS)}")
        plan = PLANS[self.preset]
        for name in (f.name for f in dataclasses.fields(DemoPlan)):
            if getattr(self, name) is None:
                setattr(self, name, getattr(plan, name))
        self.out = Path(self.out) if self.out is not None else Path("outputs") / self.preset


def base_config(settings: DemoSettings) -> TrainConfig:
    """PRESETS[preset] + the settings' overrides (through ``TrainConfig.from_overrides``), writing runs under
    ``<out>/runs``, reading the dataset and CIFAR-10-NEG from where :mod:`atlib.data.sources`' search rule finds
    them (from ``settings.data_root`` on), fixed once so every run reads the same files. Data not found stays
    None: training then fails with the folders searched."""
    values = {**settings.overrides, "out_dir": str(settings.out.resolve() / "runs"), "device": settings.device,
              "progress": sys.stderr.isatty()}
    config = TrainConfig.from_overrides(values, preset=settings.preset)
    try:
        _, root = locate_cifar(config.dataset, "train", root=settings.data_root)
    except FileNotFoundError:
        return config.replace(data_root=settings.data_root)
    try:
        neg = str(locate_cifar10_neg(root=root)) if config.dataset == "cifar10" else None
    except FileNotFoundError:
        neg = None
    return config.replace(data_root=str(root), neg_path=neg)


def demo_configs(settings: DemoSettings, base: TrainConfig, synthetic: Path | None) -> list[TrainConfig]:
    """NT and AT at every ε on the original data for every seed, then NT and AT with the synthesized set
    (when there is one) for every synthetic seed."""
    original = [("nt", 0.0)] + [("at", float(e)) for e in settings.epsilons]
    mixed = [("nt", 0.0)] + [("at", float(e)) for e in settings.synthetic_epsilons]
    tag = "synth" if settings.synthetic else "standin"
    configs = [base.replace(method=m, epsilon_255=e, seed=s) for m, e in original for s in settings.seeds]
    if synthetic is not None:
        configs += [base.replace(method=m, epsilon_255=e, seed=s, synthetic=str(synthetic.resolve()), synthetic_tag=tag)
                    for m, e in mixed for s in settings.synthetic_seeds]
    return configs


def write_standin(config: TrainConfig, size: int, path: Path) -> Path:
    """A synthesized-data stand-in: ``size`` real training images disjoint from the training subset,
    class-balanced, as the generated-data ``.npz`` (``image`` uint8 (N, 32, 32, 3), ``label`` int64).

    Kept if already written with that size. Uncompressed, so training memory-maps it.
    """
    from atlib.data import load_cifar
    from atlib.subsets import balanced_subset

    if path.is_file():
        with np.load(path) as npz:
            if npz["label"].shape == (size,):
                return path
    train = load_cifar(config.dataset, "train", config.data_root)
    if config.train_subset is None:
        raise ValueError("a stand-in needs train_subset: with the whole training set in use, nothing is held out")
    held_out = balanced_subset(train.labels, size, exclude=balanced_subset(train.labels, config.train_subset))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, image=np.ascontiguousarray(train.images[held_out]), label=train.labels[held_out].astype(np.int64))
    return path


def ensure_cifar_c(config: TrainConfig, size: int, out_dir: Path, workers: int | None) -> Path:
    """A generated CIFAR-10-C of the first ``size`` (class-balanced) test images, which lie in the runs'
    test subset; files already complete are kept (``generate_cifar_c`` resumes)."""
    from atlib.corruptions import generate_cifar_c
    from atlib.data import load_cifar
    from atlib.subsets import balanced_subset

    test = load_cifar(config.dataset, "test", config.data_root)
    if config.test_subset is not None and size > config.test_subset:
        raise ValueError(f"cifar_c_size ({size}) must not exceed the test subset ({config.test_subset})")
    index = balanced_subset(test.labels, size)
    return generate_cifar_c(np.ascontiguousarray(test.images[index]), test.labels[index], out_dir, seed=0, workers=workers)


def train_and_evaluate(config: TrainConfig, cifar_c_root: Path, threads: int | None = None) -> tuple[str, float]:
    """Train (or load) one run and add its CIFAR-C metrics if it lacks them; returns (run folder, seconds spent).

    ``threads`` sets torch's thread count first (for worker processes of :func:`train_all`).
    """
    import torch

    from atlib.evaluate import add_cifar_c_metrics
    from atlib.train import resolve_device, train

    if threads is not None:
        torch.set_num_threads(threads)
    start = time.time()
    run = train(config)
    if "cifar_c" not in run.metrics:
        add_cifar_c_metrics(run.path, cifar_c_root, device=resolve_device(config.device), batch_size=config.eval_batch_size)
    return str(run.path), time.time() - start


def default_jobs(device: str) -> int:
    """Runs trained at once: one per core on a CPU (the small CNN gains more from parallel runs of one
    thread each than from threads within a run, and threads stall when the CPU is shared); one on a GPU."""
    from atlib.train import resolve_device

    return 1 if resolve_device(device).type == "cuda" else max(1, os.cpu_count() or 1)


def finished(config: TrainConfig) -> bool:
    """True if ``config``'s run is complete with CIFAR-C metrics and was trained with this same config."""
    from atlib.store.runs import CONFIG, METRICS

    run_dir = Path(config.out_dir) / config.run_name
    if not (run_dir / METRICS).is_file():
        return False
    return "cifar_c" in read_json(run_dir / METRICS) and not config.conflicts_with(read_json(run_dir / CONFIG))


def train_all(configs: Sequence[TrainConfig], cifar_c_root: Path, jobs: int,
              echo: Callable[[str], None] = print) -> list[Any]:
    """Every config through :func:`train_and_evaluate`, ``jobs`` at a time (worker processes of one
    torch thread each when ``jobs`` > 1), finished ones just loaded; returns the runs in the order of ``configs``."""
    from atlib.store.runs import load_run

    paths: dict[int, str] = {}

    def report(k: int, path: str, seconds: float | None) -> None:
        paths[k] = path
        run = load_run(path)
        spent = "done before" if seconds is None else f"{seconds:.0f}s"
        echo(f"[demo] run {len(paths)}/{len(configs)} {run.name}: clean {run.metrics['clean_acc']:.3f} ({spent})")

    for k, config in enumerate(configs):
        if finished(config):
            report(k, str(Path(config.out_dir) / config.run_name), None)
    todo = [k for k in range(len(configs)) if k not in paths]
    if jobs <= 1 or len(todo) <= 1:
        for k in todo:
            report(k, *train_and_evaluate(configs[k], cifar_c_root))
    else:
        # longest first (AT before NT) so the last job to start is a short one
        todo.sort(key=lambda k: -(configs[k].pgd_steps + 1 if configs[k].method == "at" else 1))
        context = multiprocessing.get_context("spawn")  # never fork a process holding torch threads
        with cf.ProcessPoolExecutor(min(jobs, len(todo)), mp_context=context) as pool:
            futures = {pool.submit(train_and_evaluate, configs[k].replace(progress=False), cifar_c_root, 1): k for k in todo}
            try:
                for future in cf.as_completed(futures):
                    report(futures[future], *future.result())
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
    return [load_run(paths[k]) for k in range(len(configs))]


def notebook_parameters_for(name: str, settings: DemoSettings, example: TrainConfig) -> dict[str, Any]:
    """What the demo offers notebook ``name`` (each takes those it declares): ``runs``, ``output_dir``, ``export``
    (the explorer's kernel-free copy), and for 00_train ``example``'s config (already trained, so it is loaded)."""
    out = settings.out.resolve()
    return {"runs": str(out / "runs"), "output_dir": str(out / "figures" / name), "preset": None,
            "overrides": {**example.to_dict(), "progress": False}, "export": str(out / "figures" / name / "explorer.html")}


def run_demo(settings: DemoSettings, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Every step of the demo; returns what it produced (also written to ``<out>/summary.json`` and ``summary.md``)."""
    start = time.time()
    out = settings.out
    base = base_config(settings)
    echo(f"[demo] preset {settings.preset}; data: {relative(base.data_root) if base.data_root else '(not found: load_cifar will say where it looked)'}; "
         f"CIFAR-10-NEG: {relative(base.neg_path) if base.neg_path else 'not found, not recorded'}; outputs: {relative(out)}")

    synthetic: Path | None = None
    if not settings.synthetic_seeds:
        echo("[demo] synthesized data: none (this preset trains no run with it)")
    elif settings.synthetic:
        synthetic = Path(settings.synthetic)
        echo(f"[demo] synthesized data: {relative(synthetic)}")
    else:
        name = f"standin_{base.dataset}_{settings.standin_size}_outside_first_{base.train_subset}.npz"
        synthetic = write_standin(base, settings.standin_size, out / "data" / name)
        echo(f"[demo] synthesized data: STAND-IN of {settings.standin_size} held-out real training images ({relative(synthetic)}); "
             "runs with it are labelled 'standin'")

    if settings.cifar_c:
        cifar_c = Path(settings.cifar_c)
    else:
        step = time.time()
        cifar_c = ensure_cifar_c(base, settings.cifar_c_size, out / f"CIFAR-10-C-generated-{settings.cifar_c_size}",
                                 settings.cifar_c_workers)
        echo(f"[demo] CIFAR-10-C: generated from {settings.cifar_c_size} test images in {relative(cifar_c)} "
             f"({time.time() - step:.0f}s)")

    configs = demo_configs(settings, base, synthetic)
    jobs = settings.jobs or default_jobs(settings.device)
    echo(f"[demo] training {len(configs)} runs, {jobs} at a time")
    runs = train_all(configs, cifar_c, jobs, echo)

    names = list(settings.notebooks) if settings.notebooks is not None else available_notebooks()
    rendered = render_notebooks(names, lambda name: notebook_parameters_for(name, settings, configs[0]), out / "notebooks",
                                lambda line: echo(f"[demo] {line}"), jobs=jobs)
    notebooks = {name: result if isinstance(result, str) else relative(result) for name, result in rendered.items()}

    from atlib.claims import claims_report
    from atlib.store.runs import group_seeds

    claims = claims_report(group_seeds(runs))
    summary = _summary(runs, synthetic, settings, cifar_c, notebooks, claims, time.time() - start)
    write_json(out / "summary.json", summary)
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(format_summary(summary))
    return summary


def relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (as the summary prints paths), else absolute."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)


def wilson_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on ``n`` images (sound near 0 and 1, unlike +-2 SE)."""
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _robust(run: Any) -> dict[str, Any]:
    """Robust accuracy per budget with the number of attacked images and its 95% interval."""
    n = int((run.metrics.get("robust_eval") or {}).get("n", run.config.robust_eval_n))
    return {eps: {"acc": acc, "n": n, "interval": list(wilson_interval(acc, n)) if n else None}
            for eps, acc in (run.metrics.get("robust_acc") or {}).items()}


def _summary(runs: list[Any], synthetic: Path | None, settings: DemoSettings, cifar_c: Path, notebooks: dict[str, str],
             claims: Any, seconds: float) -> dict[str, Any]:
    from atlib.evaluate import cifar_c_source

    figures_root = settings.out / "figures"
    figures = sorted(relative(p) for p in figures_root.rglob("*") if p.suffix in (".html", ".png")) if figures_root.is_dir() else []
    return {
        "preset": settings.preset,
        "runs": [
            {"name": run.name, "label": run.label, "path": relative(run.path), "clean_acc": run.metrics.get("clean_acc"),
             "robust_acc": _robust(run), "neg_acc": run.metrics.get("neg_acc"),
             "cifar_c": (run.metrics.get("cifar_c") or {}).get("seed_paper_mean"),
             "train_seconds": round(run.meta.get("wall_time_s", 0.0), 1)}
            for run in runs
        ],
        "synthetic": None if synthetic is None else {
            "path": relative(synthetic), "kind": "given" if settings.synthetic else "standin (held-out real CIFAR-10 images)"},
        "cifar_c": {"root": relative(cifar_c), "kind": cifar_c_source(runs[0].config.dataset, cifar_c)["kind"]},
        "notebooks": notebooks,
        "figures": figures,
        "claims": claims.to_dict(),
        "claims_table": claims.markdown(),
        "seconds": round(seconds, 1),
    }


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as Markdown: runs, data sources, notebooks and figures, the claims table, the time taken."""
    lines = [f"# atlib demo summary (preset {summary['preset']})", "",
             "| run | label | clean acc | robust acc (PGD; 95% interval, images) | CIFAR-10-NEG acc | CIFAR-C acc (19) | training time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary["runs"]:
        robust = ", ".join(f"ε={k}/255: {_pct(v['acc'])} ({_pct(v['interval'][0])}-{_pct(v['interval'][1])}, n={v['n']})"
                           if v["interval"] else f"ε={k}/255: {_pct(v['acc'])}" for k, v in r["robust_acc"].items()) or "-"
        lines.append(f"| {r['name']} | {r['label']} | {_pct(r['clean_acc'])} | {robust} | {_pct(r['neg_acc'])} | "
                     f"{_pct(r['cifar_c'])} | {r['train_seconds']:.0f}s |")
    synthetic = summary["synthetic"]
    lines += ["", f"- Synthesized data: {synthetic['kind']}: `{synthetic['path']}`" if synthetic else "- Synthesized data: none",
              f"- CIFAR-10-C: {summary['cifar_c']['kind']}: `{summary['cifar_c']['root']}`", "", "## Notebooks", ""]
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
    parser.add_argument("--preset", choices=sorted(PLANS), default="demo",
                        help="demo (default), quick (one seed, tiny subsets, about a minute) or study (longer, 3 seeds)")
    parser.add_argument("--quick", dest="preset", action="store_const", const="quick", help="same as --preset quick")
    parser.add_argument("--study", dest="preset", action="store_const", const="study", help="same as --preset study")
    parser.add_argument("--out", type=Path, help="output folder (default outputs/<preset>)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the preset's)")
    parser.add_argument("--epsilons", type=float, nargs="+", help="AT budgets in 1/255 units (default: the preset's)")
    parser.add_argument("--synthetic", help="a generated .npz (Wang et al. 2023 format) instead of the stand-in")
    parser.add_argument("--synthetic-seeds", type=int, nargs="*",
                        help="seeds of the runs with synthesized data (default: the preset's; none: no such runs)")
    parser.add_argument("--cifar-c", help="an existing CIFAR-10-C folder (released or generated) instead of generating one")
    parser.add_argument("--cifar-c-size", type=int, help="test images corrupted for the generated CIFAR-10-C (default: the preset's)")
    parser.add_argument("--notebooks", nargs="*", help=f"notebooks to execute (default all: {' '.join(available_notebooks())})")
    parser.add_argument("--data-root", help="folder holding CIFAR-10, searched first (then $ATLIB_DATA, ./data, ../shared/data)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    parser.add_argument("--jobs", type=int, help="runs trained at once (default: one per CPU core, or 1 on a GPU)")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("FIELD", "VALUE"),
                        help="override a TrainConfig field of every run, e.g. --set epochs 6 (converted by the field's type)")
    return parser


def settings_from_args(argv: Sequence[str] | None = None) -> DemoSettings:
    args = build_parser().parse_args(argv)
    changes: dict[str, Any] = {"preset": args.preset, "out": args.out, "synthetic": args.synthetic, "cifar_c": args.cifar_c,
                               "data_root": args.data_root, "device": args.device, "jobs": args.jobs,
                               "overrides": dict(args.set)}
    for name in ("seeds", "epsilons", "synthetic_seeds", "cifar_c_size", "notebooks"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = tuple(value) if isinstance(value, list) else value
    settings = DemoSettings(**changes)
    TrainConfig.from_overrides(settings.overrides, preset=settings.preset)  # unknown fields and bad values fail here
    return settings


@command
def main(argv: Sequence[str] | None = None) -> int:
    summary = run_demo(settings_from_args(argv))
    print()
    print(format_summary(summary))
    return 1 if any(str(v).startswith("FAILED") for v in summary["notebooks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
