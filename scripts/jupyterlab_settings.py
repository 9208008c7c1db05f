"""Install jupyterlab/overrides.json into a JupyterLab's settings overrides, keeping the overrides already there.

    python scripts/jupyterlab_settings.py PREFIX

PREFIX is the environment JupyterLab runs from (``sys.prefix`` there; ``.venv`` for ``make setup``). The file
lands in ``PREFIX/share/jupyter/lab/settings/overrides.json``: JupyterLab then opens ``.py`` files as notebooks
(Jupytext Notebook) on a double-click. See docs/notebooks.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OURS = Path(__file__).resolve().parents[1] / "jupyterlab" / "overrides.json"


def install(prefix: Path) -> Path:
    target = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    merged = json.loads(target.read_text()) if target.is_file() else {}
    for plugin, values in json.loads(OURS.read_text()).items():
        merged.setdefault(plugin, {}).update(values)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    tmp.replace(target)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"JupyterLab opens .py files as notebooks: {install(Path(sys.argv[1]))}")
