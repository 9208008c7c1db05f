"""Where datasets are looked for (the one search rule).

An explicit root (``root=``, ``--data-root``) is the only place searched: it must hold the dataset, or
be its archive, else loading fails naming what was looked for. Without one: ``$ATLIB_DATA``, then
``./data``, then the official release downloaded by torchvision into the first of them (when online).
A training run resolves its inputs once with this rule and records them (see ``atlib.train.inputs``),
so analysis never searches again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

DATA_ENV = "ATLIB_DATA"


class Root(NamedTuple):
    """A place to search, with how it was chosen (for error messages)."""

    path: Path
    origin: str


def candidate_roots(root: str | os.PathLike | None) -> list[Root]:
    """The places to search, in priority order, without duplicates: ``root`` alone when given, else
    ``$ATLIB_DATA`` and ``./data``."""
    if root is not None:
        return [Root(Path(root).expanduser().resolve(), "root argument")]
    found: list[Root] = []
    if os.environ.get(DATA_ENV):
        found.append(Root(Path(os.environ[DATA_ENV]).expanduser().resolve(), f"${DATA_ENV}"))
    found.append(Root(Path("data").resolve(), "./data"))
    unique: dict[Path, Root] = {}
    for item in found:
        unique.setdefault(item.path, item)
    return list(unique.values())


def side_folder(root: Path) -> Path:
    """The folder of files kept beside a dataset (NEG, CIFAR-C): ``root`` itself, or the folder holding it
    when ``root`` is an archive file."""
    return root.parent if root.is_file() else root


def find_path(path: str | os.PathLike) -> Path | None:
    """A file or folder a config names (a synthesized set, a CIFAR-C folder): as given (relative paths from the
    working directory), else, for a relative path, under each folder of :func:`candidate_roots` in turn. So a
    grid can say ``DM-Improves-AT/cifar10/1m.npz`` and find it in ``$ATLIB_DATA``, wherever that is. None when
    absent everywhere."""
    given = Path(path).expanduser()
    if given.exists():
        return given.resolve()
    if given.is_absolute():
        return None
    return next((r.path / given for r in candidate_roots(None) if (r.path / given).exists()), None)


# Where each input atlib reads comes from, for messages that name a missing input (``{dataset}`` filled in).
# The datasets themselves say where they come from in ``atlib.datasets`` (``DatasetInfo.source``).
WHERE_TO_GET = {
    "neg": "CIFAR10_neg.npz, CIFAR-10-NEG of Kaplun et al. 2022 (Deconstructing Distributions, arXiv:2202.09931), "
           "in a data folder (without it runs record no NEG accuracy: Fig 4, claims 4a/4b)",
    "synthetic": "the generated data of Wang et al. 2023 (arXiv:2302.04638): download {dataset}/1m.npz from "
                 "https://huggingface.co/datasets/P2333/DM-Improves-AT and put it at {where}",
    "cifar_c": "{cifar_c} (Hendrycks & Dietterich 2019): download it from {url} and extract it into a data folder, "
               "or generate it: python -m atlib corruptions --dataset {dataset} --out {root}/{cifar_c}",
}


def describe_roots(roots: list[Root]) -> str:
    """One line per searched place, for 'not found' messages."""
    def state(path: Path) -> str:
        return "" if path.is_dir() else ", a file" if path.is_file() else ", does not exist"

    return "\n".join(f"  - {r.path} ({r.origin}{state(r.path)})" for r in roots)
