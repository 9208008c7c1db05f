"""Execute the paper's notebooks with parameters (papermill).

The notebooks under ``notebooks/`` are jupytext ``py:percent`` files (the committed source);
papermill cannot read those, so :func:`run_notebook` converts one to a notebook in memory
(keeping the ``parameters`` cell tag, setting the ``python3`` kernelspec), executes it with
papermill in the repository root (so relative paths in parameters work) and writes the executed
``.ipynb`` atomically. A failing cell raises :class:`NotebookError`, which names the notebook and
where the partially executed copy was saved.

Paths given as parameters are injected relative to the repository root (the notebooks resolve them against
it, :mod:`atlib.notebook_helpers`), so an executed notebook names no folder of the machine it ran on. The
executed notebook is signed with nbformat's notary in the user's own store, as ``jupyter trust`` does:
JupyterLab then shows its saved outputs, the explorer's widgets included, with no kernel.

CLI: ``python -m atlib.notebooks 01_entropy -p runs "outputs/runs/*" -o outputs/notebooks/01_entropy.ipynb``

What the notebooks themselves call (loading runs, showing figures) is :mod:`atlib.notebook_helpers`.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from atlib.cli import command
from atlib.errors import AtlibError
from atlib.store.io import atomic_path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
PARAMETERS_TAG = "parameters"
# The kernel logs only errors: at its default level it warns, on every start, that it talks to this process over
# TCP without encryption, which is harmless on a machine of one's own (render_notebooks says so once).
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
KERNEL_NOTE = ("notebook kernels talk to this process over local TCP ports without encryption: harmless on a machine "
               "of your own (on a shared one, other users could read them); their warning about it is silenced")


class NotebookError(AtlibError, RuntimeError):
    """A notebook failed to execute; ``saved`` is the partially executed copy (None if nothing ran)."""

    def __init__(self, message: str, notebook: Path, saved: Path | None) -> None:
        super().__init__(message)
        self.notebook, self.saved = notebook, saved


def available_notebooks() -> list[str]:
    """Names of the notebooks shipped in ``notebooks/`` (e.g. ``01_entropy``)."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("*.py"))


def report_notebooks() -> list[str]:
    """The notebooks that report on a set of runs, in the order they are rendered (the demo's and a sweep's
    ``--render``): every shipped notebook that reads runs, i.e. declares a ``runs`` parameter (``00_train``
    trains instead)."""
    return [name for name in available_notebooks() if "runs" in notebook_parameters(load_notebook(name))]


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (as summaries print paths, and as notebook
    parameters are given: a notebook runs in the repository root), else absolute."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)


def resolve_notebook(name_or_path: str | os.PathLike) -> Path:
    """A shipped notebook's name (``01_entropy``), or a path to a ``.py`` (percent) or ``.ipynb`` file."""
    path = Path(name_or_path)
    if path.suffix in (".py", ".ipynb") and path.is_file():
        return path.resolve()
    shipped = NOTEBOOK_DIR / f"{path.stem if path.suffix == '.py' else path.name}.py"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(
        f"no notebook {str(name_or_path)!r}: give a path to a .py (jupytext percent) or .ipynb file, "
        f"or one of the shipped notebooks: {', '.join(available_notebooks())}"
    )


def load_notebook(name_or_path: str | os.PathLike) -> Any:
    """The notebook as an ``nbformat`` node, converted by jupytext, with the python3 kernelspec.

    Cell metadata (the ``parameters`` tag papermill looks for) is kept as jupytext reads it.
    """
    import jupytext

    nb = jupytext.read(resolve_notebook(name_or_path))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def notebook_parameters(nb: Any) -> dict[str, str]:
    """The parameters a notebook declares (name -> default, as source text), from its tagged cell."""
    cells = [c for c in nb.cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged {PARAMETERS_TAG!r}, found {len(cells)}")
    tree = ast.parse(cells[0].source)
    return {
        target.id: ast.get_source_segment(cells[0].source, node.value) or ""
        for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(target, ast.Name)
    }


def run_notebook(name_or_path: str | os.PathLike, parameters: dict[str, Any] | None, output_path: str | os.PathLike,
                 progress: bool = False, timeout_s: int | None = None) -> Path:
    """Execute a notebook with ``parameters`` (papermill, python3 kernel, cwd = repo root) into ``output_path``.

    The executed notebook appears at ``output_path`` only once every cell has run. On a failure
    the partially executed notebook is saved beside it as ``<name>.failed.ipynb`` and a
    :class:`NotebookError` says which notebook and cell failed and where that copy is.
    Unknown parameter names are refused up front (papermill would only warn and ignore them).
    """
    import papermill

    source = resolve_notebook(name_or_path)
    output = Path(output_path).resolve()
    failed = output.with_name(output.stem + ".failed.ipynb")
    parameters = dict(parameters or {})
    nb = load_notebook(source)
    declared = notebook_parameters(nb)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"notebook {source.name}: unknown parameters {unknown}; it takes {sorted(declared)}")
    parameters = {k: _relative(v) for k, v in parameters.items()}
    failed.unlink(missing_ok=True)  # a copy left by an earlier failure would now mislead
    try:
        with atomic_path(output, suffix=".tmp.ipynb") as tmp:  # papermill warns about other extensions
            try:
                papermill.execute_notebook(nb, str(tmp), parameters=parameters, kernel_name=KERNELSPEC["name"],
                                           cwd=str(REPO_ROOT), progress_bar=progress, execution_timeout=timeout_s,
                                           extra_arguments=KERNEL_ARGUMENTS)
            except BaseException:
                if tmp.is_file() and tmp.stat().st_size > 0:
                    os.replace(tmp, failed)
                raise
            _finish(tmp, output)
    except papermill.PapermillExecutionError as err:
        raise NotebookError(
            f"notebook {source.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"the partially executed notebook is saved at {failed}",
            source, failed,
        ) from err
    except Exception as err:
        saved = failed if failed.is_file() else None
        where = f"; the partially executed notebook is saved at {failed}" if saved else ""
        raise NotebookError(f"notebook {source.name} could not be executed: {type(err).__name__}: {err}{where}",
                            source, saved) from err
    return output


def _relative(value: Any) -> Any:
    """A parameter that is an absolute path inside the repository, as a path relative to its root."""
    if isinstance(value, (str, Path)) and Path(value).is_absolute():
        try:
            return str(Path(value).resolve().relative_to(REPO_ROOT))
        except ValueError:
            return value
    return value


def _finish(path: Path, output: Path) -> None:
    """Name the notebook's output path relative to the repository root (not the temporary file papermill wrote),
    then sign it (nbformat's notary, the user's own store) so JupyterLab trusts its saved outputs."""
    import nbformat
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(path, as_version=4)
    record = nb.metadata.get("papermill", {})
    if "output_path" in record:
        record["output_path"] = str(_relative(output))
    nbformat.write(nb, path)
    NotebookNotary().sign(nb)


# ----------------------------------------------------------------------------- CLI


def render_notebooks(names: Sequence[str], offered: Callable[[str], dict[str, Any]], out_dir: str | os.PathLike,
                     echo: Callable[[str], None] = print, jobs: int = 1) -> dict[str, Path | str]:
    """Execute each notebook into ``out_dir/<name>.ipynb`` with the parameters it declares among
    ``offered(name)`` (the demo's and a sweep's report offer the same kinds: ``runs``, ``output_dir``,
    ``export``...), ``jobs`` at a time (each in its own kernel). A failing notebook does not stop the
    others: returns ``name -> executed notebook path`` or ``"FAILED: <error>"``, in the order of ``names``."""
    def render(name: str) -> Path | str:
        start = time.time()
        try:
            declared = notebook_parameters(load_notebook(name))
            parameters = {k: v for k, v in offered(name).items() if k in declared}
            result: Path | str = run_notebook(name, parameters, Path(out_dir) / f"{name}.ipynb")
            echo(f"rendered {name} -> {result} ({time.time() - start:.0f}s)")
        except Exception as err:  # noqa: BLE001 - a notebook's failure is reported, the others still run
            result = f"FAILED: {type(err).__name__}: {err}"
            echo(f"FAILED   {name}: {type(err).__name__}: {err}")
        return result

    echo(KERNEL_NOTE)
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        return dict(zip(names, pool.map(render, names)))


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal (``8``, ``0.5``, ``[2, 8]``, ``{'epochs': 2}``, ``None``) or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atlib.notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", help=f"a shipped notebook ({', '.join(available_notebooks())}) or a .py/.ipynb path")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a parameter (VALUE is read as a Python literal, else as text); repeatable")
    parser.add_argument("-o", "--output", help="executed notebook path (default outputs/notebooks/<name>.ipynb)")
    parser.add_argument("--progress", action="store_true", help="show papermill's cell progress bar")
    parser.add_argument("--list-parameters", action="store_true", help="print the notebook's parameters and exit")
    args = parser.parse_args(argv)
    if args.list_parameters:
        for name, default in notebook_parameters(load_notebook(args.notebook)).items():
            print(f"{name} = {default}")
        return 0
    output = args.output or REPO_ROOT / "outputs" / "notebooks" / f"{resolve_notebook(args.notebook).stem}.ipynb"
    path = run_notebook(args.notebook, {k: parse_value(v) for k, v in args.parameter}, output, progress=args.progress)
    print(f"executed notebook: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
