"""Package namespaces that import their modules on first use.

``python -m atlib.X`` imports the package ``atlib.X`` before its ``__main__``; with its names loaded lazily,
``--help`` answers at once, and code that needs one torch-free name never pays for torch, pandas or altair.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``package``: each of ``names`` is imported from its submodule
    (``{"train": "loop"}``: ``package.loop.train``) when first asked for."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    return __getattr__
