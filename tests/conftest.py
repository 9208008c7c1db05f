"""Shared fixtures: where the real development data lives, and an isolated data cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist (`make test`) each worker gets one core: one torch/OpenMP thread per worker, and
    # the processes the tests start inherit it, so workers do not fight over the cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

from tinydata import write_tiny_cifar

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for the module's tests: results compared bitwise with a stored run, or across a forked
    child, must reduce in the same order whatever the machine's core count (several threads split float sums
    differently), and forking is safe with one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def shared_data_dir() -> Path | None:
    """The real data folder: ``$ATLIB_DATA`` (the Makefile sets it to ``../shared/data`` beside the repo
    when that folder exists), else that folder itself for a bare ``pytest``."""
    candidate = Path(os.environ.get("ATLIB_DATA") or REPO.parent / "shared" / "data")
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the real CIFAR-10 archive / CIFAR-10-NEG folder; skips when it is absent."""
    path = shared_data_dir()
    if path is None or not (path / "cifar10-jpeg.tar.xz").exists():
        pytest.skip("real data not found: set ATLIB_DATA or place it at ../shared/data")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep atlib's decoded-data cache per test session, never in the user's home. Session-scoped,
    so it is in place before any module- or session-scoped fixture loads data."""
    previous = os.environ.get("ATLIB_CACHE")
    os.environ["ATLIB_CACHE"] = str(tmp_path_factory.getbasetemp() / "atlib-cache")
    yield
    if previous is None:
        os.environ.pop("ATLIB_CACHE", None)
    else:
        os.environ["ATLIB_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CIFAR-10 ImageFolder of learnable toy images plus a NEG file (see tests/tinydata.py)."""
    return write_tiny_cifar(tmp_path_factory.mktemp("tiny_cifar"))


@pytest.fixture
def no_shared_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without an explicit root atlib searches $ATLIB_DATA, which points at the real data on development
    machines and in CI, then ./data: tests of "not found" clear the variable and work in an empty folder."""
    monkeypatch.delenv("ATLIB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
