"""The package's layers: no module imports up a floor, and no import cycle between modules.

The floor table is written once, in ARCHITECTURE.md; this test reads it from there. Imports are read from
the source (``ast``), including those inside functions, so a late import cannot hide an edge.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "atlib"


def floor_table() -> dict[str, int]:
    """Module name prefix -> floor, from the table of ARCHITECTURE.md's "Floors" section."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    table: dict[str, int] = {}
    for row in re.finditer(r"^\| (\d+) \| (.+?) \|", text, flags=re.MULTILINE):
        for name in re.findall(r"`(atlib[\w.]*)`", row.group(2)):
            assert name not in table, f"{name} is listed on two floors of ARCHITECTURE.md"
            table[name] = int(row.group(1))
    assert table, "ARCHITECTURE.md has no floor table"
    return table


def allowed_cycles() -> set[frozenset[str]]:
    """The cycles ARCHITECTURE.md lists as still to remove (its "Still to remove" paragraph: `a` ↔ `b`)."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    paragraph = re.search(r"^\*\*Still to remove\.\*\*(.*?)^$", text, flags=re.MULTILINE | re.DOTALL)
    pairs = re.findall(r"`(atlib[\w.]*)` ↔ `(atlib[\w.]*)`", paragraph.group(1)) if paragraph else []
    return {frozenset(pair) for pair in pairs}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The atlib modules that ``name`` imports anywhere in its source (``from a import b`` counts as a.b when b is
    a module, else as a)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "atlib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "atlib":
                continue
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
    found.discard(name)
    return found


def floor_of(name: str, table: dict[str, int]) -> int:
    """The floor of the longest table entry that is ``name`` or a package holding it (``atlib`` itself covers
    only the top package's ``__init__``, so that every new top-level module needs its own row)."""
    matches = [prefix for prefix in table if name == prefix or (prefix != "atlib" and name.startswith(prefix + "."))]
    assert matches, f"{name} has no floor: add it (or its package) to the table in ARCHITECTURE.md"
    return table[max(matches, key=len)]


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_module_has_a_floor_and_imports_none_above_it() -> None:
    table = floor_table()
    up = [f"{name} (floor {floor_of(name, table)}) imports {target} (floor {floor_of(target, table)})"
          for name, targets in graph().items() for target in sorted(targets)
          if floor_of(target, table) > floor_of(name, table)]
    assert not up, "imports up a floor:\n" + "\n".join(up)


def test_no_import_cycle() -> None:
    edges = graph()
    for pair in allowed_cycles():
        a, b = sorted(pair)
        assert b in edges[a] and a in edges[b], f"{a} and {b} no longer import each other: remove them from ARCHITECTURE.md"
        edges[a].discard(b)
        edges[b].discard(a)
    cycles, state = [], {}  # state: 1 while on the current path, 2 when finished

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(edges.get(name, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_reading_floors_import_no_torch() -> None:
    """ARCHITECTURE.md's rule "Torch stays out of reading": the floors it names import torch only inside functions,
    but for the modules it names."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    rule = re.search(r"\*\*Torch stays out of reading\.\*\*(.*?)(?:\n- |\n\n)", text, flags=re.DOTALL).group(1)
    floors = {int(f) for f in re.search(r"floors ([\d, and]+) imports", rule).group(1).replace("and", ",").split(",") if f.strip()}
    allowed = set(re.findall(r"`(atlib[\w.]*)`", rule))
    table = floor_table()
    offenders = []
    for name, path in modules().items():
        if floor_of(name, table) not in floors or name in allowed:
            continue
        for node in ast.parse(path.read_text()).body:  # module level only: imports inside functions are late
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("torch", "torchvision") for n in names):
                offenders.append(name)
    assert floors == {0, 2, 4} and not offenders, f"import torch at module level: {offenders}"
    readers = [name for name in modules() if floor_of(name, table) in floors and name not in allowed
               and not name.endswith("__main__")]
    code = f"import importlib, sys\nfor m in {readers!r}: importlib.import_module(m)\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "False", "importing the reading floors loads torch (through another module)"


def test_the_checker_sees_late_and_relative_imports(tmp_path: Path) -> None:
    """The import reader counts imports inside functions and relative imports (so the two tests above can fail)."""
    source = tmp_path / "mod.py"
    source.write_text("from . import sibling\n\ndef late():\n    from atlib.store.io import atomic_path\n    import atlib.plots\n")
    known = {"atlib.pkg.sibling", "atlib.store.io"}
    assert imports("atlib.pkg.mod", source, known) == {"atlib.pkg.sibling", "atlib.store.io", "atlib.plots"}
    table = {"atlib": 0, "atlib.store": 2, "atlib.store.io": 0}
    assert floor_of("atlib.store.io", table) == 0 and floor_of("atlib.store.runs", table) == 2
    with pytest.raises(AssertionError, match="atlib.newmodule has no floor"):
        floor_of("atlib.newmodule", table)
