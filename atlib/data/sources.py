"""Where datasets are looked for: explicit root, then ``$ATLIB_DATA``, then ``./data``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

DATA_ENV = "ATLIB_DATA"


class Root(NamedTuple):
    """A folder to search, with how it was chosen (for error messages)."""

    path: Path
    origin: str


def candidate_roots(root: str | os.PathLike | None) -> list[Root]:
    """The folders to search, in priority order, without duplicates.

    All three are searched in turn (an explicit ``root`` that lacks the data does not stop the
    search), so a user can point ``$ATLIB_DATA`` at one shared folder once.
    """
    found: list[Root] = []
    if root is not None:
        found.append(Root(Path(root).expanduser().resolve(), "root argument"))
    if os.environ.get(DATA_ENV):
        found.append(Root(Path(os.environ[DATA_ENV]).expanduser().resolve(), f"${DATA_ENV}"))
    found.append(Root(Path("data").resolve(), "./data"))
    unique: dict[Path, Root] = {}
    for item in found:
        unique.setdefault(item.path, item)
    return list(unique.values())


def describe_roots(roots: list[Root]) -> str:
    """One line per searched folder, for 'not found' messages."""
    return "\n".join(f"  - {r.path} ({r.origin}{'' if r.path.is_dir() else ', does not exist'})" for r in roots)
