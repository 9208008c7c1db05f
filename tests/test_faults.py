"""Fault injection on the run folder: a process killed at each of many points resumes bitwise equal to an
uninterrupted run, and every damaged or contested folder is refused with a clear message, leaving the stored
bytes exactly as they were (docs/reliability.md counts these cases).

Kills are deterministic: a forked child patches one function to ``os._exit`` at its n-th call (no timing, no
sleeping). Concurrency is simulated by the test holding the run's lock itself.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from atlib.store.io import RunFolderError
from atlib.store.lock import RunBusyError
from atlib.store.runs import load_run

from tinydata import REPO, tiny_config

pytestmark = pytest.mark.slow  # every case trains (the reference run at least)

KILLED = 77  # exit status of a child killed at its injected point


def _config(root: Path, out: Path, **changes: Any):
    return tiny_config(root, out, robust_eval_n=16, robust_eval_steps=1, train_probe_size=10, **changes)


def _train(config, force: bool = False):
    from atlib.train import train

    return train(config, force=force)


def _in_child(work: Callable[[], None]) -> tuple[int, str]:
    """Run ``work`` in a forked child (torch already imported: no start-up cost); its exit status and the
    one-line message of what it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        code = 0
        try:
            work()
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            os.write(write, f"{type(err).__name__}: {err}".encode()[:4000])
            code = 3
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), message


def _kill_at(target: str, nth: int, when: str, match: str | None) -> None:
    """Patch ``target`` (``module:attribute.path``) so its ``nth`` call (counting those whose arguments mention
    ``match``) ends the process: ``before`` or ``after`` the call, or ``during`` (half its output written, for
    ``torch.save``)."""
    module_name, _, path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if match is None or (args and match in str(args[0])):
            calls[0] += 1
            if calls[0] == nth:
                if when == "before":
                    os._exit(KILLED)
                if when == "during":  # torch.save(obj, file): half the bytes reach the file
                    import io

                    buffer = io.BytesIO()
                    original(args[0], buffer)
                    data = buffer.getvalue()
                    args[1].write(data[: len(data) // 2])
                    args[1].flush()
                    os._exit(KILLED)
                result = original(*args, **kwargs)
                os._exit(KILLED)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every stored byte (the lock file is not data: a refused writer may create it)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".atlib.lock"}


def _same_run(got: Path, want: Path) -> None:
    """Records, dynamics, log, final model and metrics bitwise those of the uninterrupted run."""
    for sub in ("records", "dynamics"):
        names = sorted(p.name for p in (want / sub).glob("*.npy"))
        assert names == sorted(p.name for p in (got / sub).glob("*.npy"))
        for name in names:
            assert np.array_equal(np.load(want / sub / name), np.load(got / sub / name), equal_nan=True), f"{sub}/{name}"
    timeless = lambda path: [{k: v for k, v in p.items() if k != "time"}  # noqa: E731
                             for p in json.loads(path.read_text())["points"]]
    assert timeless(got / "records/index.json") == timeless(want / "records/index.json")
    assert json.loads((got / "dynamics/index.json").read_text()) == json.loads((want / "dynamics/index.json").read_text())
    log = [json.loads(line) for line in (got / "log.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in p.items() if k != "time"} for p in log] == timeless(want / "records/index.json")
    theirs, mine = (torch.load(p / "checkpoint.pt", weights_only=True) for p in (want, got))
    assert all(torch.equal(t, mine["model"][k]) for k, t in theirs["model"].items())
    assert json.loads((got / "metrics.json").read_text()) == json.loads((want / "metrics.json").read_text())
    assert not list(got.rglob(".*.tmp")), "orphan temporary files are removed on the next open"


@pytest.fixture(scope="module")
def reference(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    """The uninterrupted run every kill is compared with."""
    return _train(_config(tiny_root, tmp_path_factory.mktemp("reference"))).path


@pytest.fixture
def stored(reference: Path, tmp_path: Path, tiny_root: Path) -> tuple[Any, Path]:
    """A copy of the finished reference run, made resumable (its metrics removed): config and folder."""
    config = _config(tiny_root, tmp_path)
    folder = tmp_path / reference.name
    shutil.copytree(reference, folder)
    (folder / "metrics.json").unlink()
    stored_config = json.loads((folder / "config.json").read_text()) | {"out_dir": str(tmp_path)}
    (folder / "config.json").write_text(json.dumps(stored_config))
    return config, folder


KILL_POINTS = {  # name: (target, nth call, when, argument that must be mentioned)
    "records rows written, index not": ("atlib.store.records:RecordStore._commit", 2, "before", None),
    "one set's rows written, the next not": ("atlib.store.records:RecordStore._write", 5, "after", None),
    "inside the first checkpoint write": ("torch:save", 1, "during", None),
    "inside a later checkpoint write": ("torch:save", 3, "during", None),
    "checkpoint written, not renamed": ("os:replace", 2, "before", "checkpoint"),
    "checkpoint renamed, progress not written": ("atlib.store.writer:write_json", 1, "before", "progress"),
    "point recorded, checkpoint not written": ("atlib.store.writer:RunWriter.save_checkpoint", 2, "before", None),
    "point recorded, log line not written": ("atlib.store.writer:RunWriter.log_point", 3, "before", None),
    "dynamics rows written, index not": ("atlib.store.dynamics:DynamicsStore._commit", 2, "before", None),
    "while creating the records": ("atlib.store.arrays:preallocate_npy", 2, "before", "records"),
    "while creating the dynamics": ("atlib.store.arrays:preallocate_npy", 3, "before", "dynamics"),
    "before meta.json": ("atlib.store.writer:write_json", 1, "before", "meta"),
    "inside an atomic write, before its fsync": ("os:fsync", 9, "before", None),
    "during the final evaluation": ("atlib.train.loop:final_metrics", 1, "before", None),
    "meta.json finished, metrics not": ("atlib.store.writer:write_json", 1, "before", "metrics"),
    "metrics written, progress not removed": ("atlib.store.writer:write_json", 1, "after", "metrics"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_at_any_point_resumes_bitwise(point: str, reference: Path, tiny_root: Path, tmp_path: Path) -> None:
    config = _config(tiny_root, tmp_path)
    target, nth, when, match = KILL_POINTS[point]

    def killed_run() -> None:
        _kill_at(target, nth, when, match)
        _train(config)

    code, message = _in_child(killed_run)
    assert code == KILLED, f"the child was not killed at {point!r} (exit {code}: {message})"
    run = _train(config)
    assert run.complete
    _same_run(run.path, reference)


def test_a_second_writer_is_refused_naming_the_holder_and_touching_nothing(stored: tuple[Any, Path]) -> None:
    config, folder = stored
    before = _snapshot(folder)
    with open(folder / ".atlib.lock", "r+") as lock:  # the test is the first process
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"pid {os.getpid()} on {socket.gethostname()} since now\n")
        lock.flush()
        before = _snapshot(folder)
        for force in (False, True):  # a second train, and a --force during training
            with pytest.raises(RunBusyError, match=rf"in use by another process \(pid {os.getpid()} on {socket.gethostname()}"):
                _train(config, force=force)
            assert _snapshot(folder) == before


def test_the_cli_exits_non_zero_on_a_locked_run(stored: tuple[Any, Path], tiny_root: Path) -> None:
    config, folder = stored
    with open(folder / ".atlib.lock", "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = _snapshot(folder)
        command = [sys.executable, "-m", "atlib.train", "--model", "small_cnn", "--method", "nt", "--epochs", "2",
                   "--batch-size", "32", "--lr", "0.05", "--lr-milestones", "1", "--record-per-epoch", "2",
                   "--robust-eval-n", "16", "--robust-eval-steps", "1", "--eval-batch-size", "64", "--train-probe-size", "10",
                   "--data-root", str(tiny_root), "--neg-path", str(tiny_root / "CIFAR10_neg.npz"),
                   "--out-dir", str(folder.parent), "--no-progress"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
        assert done.returncode != 0 and "in use by another process" in done.stderr and "Traceback" not in done.stderr
        assert _snapshot(folder) == before


DAMAGE = {  # name: (what to do to a resumable run, the message)
    "truncated records file": (lambda f: os.truncate(f / "records/test_probs.npy", (f / "records/test_probs.npy").stat().st_size - 64),
                               r"test_probs\.npy holds \d+ bytes, its header implies \d+"),
    "truncated dynamics file": (lambda f: os.truncate(f / "dynamics/loss.npy", (f / "dynamics/loss.npy").stat().st_size - 10),
                                r"dynamics are damaged: .*loss\.npy holds \d+ bytes, its header implies \d+"),
    "deleted records/index.json": (lambda f: (f / "records/index.json").unlink(), r"records/index\.json is missing but .*checkpoint"),
    "deleted dynamics/index.json": (lambda f: (f / "dynamics/index.json").unlink(), r"dynamics/index\.json is missing but the run recorded"),
    "deleted meta.json": (lambda f: (f / "meta.json").unlink(), r"has a checkpoint but no meta\.json"),
    "records ahead of the checkpoint": (lambda f: _rewind_checkpoint(f, points=1), r"holds 4 record points but .* is at point 1"),
    "records behind the checkpoint": (lambda f: _set_count(f, 2), r"holds 2 record points but .* is at point 4"),
    "hand-edited epochs": (lambda f: _edit_config(f, epochs=3), r"written under another config than .*config\.json now holds "
                                                                r"\(was it edited, e\.g\. its epochs\?\)"),
    "random-bytes checkpoint": (lambda f: (f / "checkpoint.pt").write_bytes(os.urandom(5000)), r"damaged: .*checkpoint\.pt"),
    "truncated checkpoint": (lambda f: os.truncate(f / "checkpoint.pt", 3000), r"damaged: .*checkpoint\.pt"),
}


def _rewind_checkpoint(folder: Path, points: int) -> None:
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    state["position"] = {"epoch": 0, "batch": 0, "points": points}
    torch.save(state, folder / "checkpoint.pt")


def _set_count(folder: Path, count: int) -> None:
    index = json.loads((folder / "records/index.json").read_text())
    (folder / "records/index.json").write_text(json.dumps(index | {"count": count}))


def _edit_config(folder: Path, **changes: Any) -> None:
    stored = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(stored | changes))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_is_refused_with_what_was_found_and_left_as_it_was(damage: str, stored: tuple[Any, Path]) -> None:
    config, folder = stored
    harm, message = DAMAGE[damage]
    harm(folder)
    if damage == "hand-edited epochs":
        config = config.replace(epochs=3)
    before = _snapshot(folder)
    with pytest.raises(RunFolderError, match=message) as raised:
        _train(config)
    assert "--force" in str(raised.value) and "weights_only" not in str(raised.value)
    assert _snapshot(folder) == before


def test_a_foreign_checkpoint_is_refused(stored: tuple[Any, Path], tiny_root: Path, tmp_path: Path) -> None:
    config, folder = stored
    at = _train(_config(tiny_root, tmp_path / "at", method="at", epsilon_255=8, pgd_steps=1, epochs=1, record_per_epoch=1))
    shutil.copy(at.path / "checkpoint.pt", folder / "checkpoint.pt")
    before = _snapshot(folder)
    with pytest.raises(RunFolderError, match=r"belongs to another run \('cifar10_small_cnn_at8_s0'.*not to 'cifar10_small_cnn_nt_s0'"):
        _train(config)
    assert _snapshot(folder) == before


def test_force_removes_everything_the_run_owns(stored: tuple[Any, Path], reference: Path) -> None:
    config, folder = stored
    (folder / "tb").mkdir()
    (folder / "tb" / "events").write_text("x")
    (folder / "notes.txt").write_text("mine")  # not the run's: kept
    run = _train(config, force=True)
    assert run.complete and (folder / "notes.txt").read_text() == "mine" and not (folder / "tb").exists()
    _same_run(folder, reference)


def test_a_full_disk_fails_at_creation_and_leaves_the_previous_checkpoint(tiny_root: Path, tmp_path: Path,
                                                                          one_thread: None) -> None:
    def limited(limit: int, config: Any) -> Callable[[], None]:
        def work() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes past it fail with EFBIG
            _train(config)
        return work

    # A new run under a file-size limit smaller than its record files: refused when they are allocated.
    fresh = _config(tiny_root, tmp_path / "fresh")
    code, message = _in_child(limited(5000, fresh))
    assert code == 3 and message.startswith("DiskFullError: disk full at ") and "_probs.npy" in message, message
    assert not (tmp_path / "fresh" / fresh.run_name).exists(), "a failed setup leaves nothing it made"
    # A resumed run whose next checkpoint does not fit: refused at that write, the previous checkpoint intact.
    partial = _config(tiny_root, tmp_path / "partial")

    def killed_before_the_last_checkpoint() -> None:
        _kill_at("atlib.store.writer:RunWriter.save_checkpoint", 4, "before", None)
        _train(partial)

    assert _in_child(killed_before_the_last_checkpoint)[0] == KILLED
    folder = tmp_path / "partial" / partial.run_name
    before = _snapshot(folder)
    code, message = _in_child(limited(len(before["checkpoint.pt"]) - 1, partial))
    assert code == 3 and message.startswith("DiskFullError: disk full at ") and "checkpoint.pt" in message, message
    after = _snapshot(folder)
    assert after["checkpoint.pt"] == before["checkpoint.pt"] and not list(folder.rglob(".*.tmp"))
    assert _train(partial).complete  # with room again, the same command finishes it


def test_a_read_only_folder_refuses_writers_and_serves_readers(reference: Path, tiny_root: Path, tmp_path: Path) -> None:
    shared = Path(tmp_path / "shared")
    shutil.copytree(reference, shared / "runs" / reference.name)
    data = shutil.copytree(tiny_root, shared / "data")
    done = _config(data, shared / "runs")
    stored = json.loads((shared / "runs" / reference.name / "config.json").read_text())
    (shared / "runs" / reference.name / "config.json").write_text(json.dumps(stored | {"out_dir": str(shared / "runs"),
                                                                                      "data_root": str(data)}))
    new = _config(data, shared / "runs", seed=1)
    before = _snapshot(shared / "runs")
    for path in [tmp_path, *tmp_path.parents][:-1]:  # the non-root user below must reach the folder
        if path.stat().st_uid == os.geteuid():
            path.chmod(path.stat().st_mode | 0o055)
    for path in sorted(shared.rglob("*"), reverse=True) + [shared]:
        path.chmod(0o555 if path.is_dir() else 0o444)

    def as_reader() -> None:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)  # root ignores permissions: drop to nobody
        run = _train(done)  # a finished run is returned as stored: no lock, no write
        assert run.complete and run.num_points == 4 and load_run(run.path).probs("test").shape[0] == 4
        _train(new)

    try:
        code, message = _in_child(as_reader)
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert code == 3 and message.startswith("RunFolderError: cannot create ") and "--out-dir" in message, message
    assert _snapshot(shared / "runs") == before


def test_orphan_temporary_files_are_removed_on_open(stored: tuple[Any, Path], reference: Path) -> None:
    config, folder = stored
    for orphan in (folder / ".checkpoint.pt.abc.tmp", folder / "records" / ".index.json.x.tmp"):
        orphan.write_bytes(b"half")
    run = _train(config)
    assert run.complete and not list(folder.rglob(".*.tmp"))
    _same_run(folder, reference)


def test_files_are_readable_by_others_under_umask_022(tiny_root: Path, tmp_path: Path, one_thread: None) -> None:
    import altair as alt
    import pandas as pd

    from atlib.plots.style import save_chart

    old = os.umask(0o022)
    try:
        run = _train(_config(tiny_root, tmp_path, epochs=1, record_per_epoch=1))
        written = save_chart(alt.Chart(pd.DataFrame({"x": [0, 1]})).mark_point().encode(x="x"), tmp_path / "figure")
    finally:
        os.umask(old)
    files = [run.path / name for name in ("config.json", "meta.json", "metrics.json", "checkpoint.pt", "log.jsonl")]
    files += [*(run.path / "records").iterdir(), *(run.path / "dynamics").iterdir(), *written]
    modes = {str(p): oct(p.stat().st_mode & 0o777) for p in files}
    assert all(mode == "0o644" for mode in modes.values()), modes


def test_a_failed_setup_removes_only_what_it_made(stored: tuple[Any, Path], tiny_root: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(tiny_root, tmp_path / "broken")
    next(iter(sorted((broken / "train").rglob("*.png")))).write_bytes(b"")  # a damaged image: setup fails
    config, folder = stored
    before = _snapshot(folder)
    with pytest.raises(Exception, match=r"\.png"):
        _train(config.replace(data_root=str(broken)))  # the stored run, resumed on damaged data: left as it was
    assert _snapshot(folder) == before
    new = _config(broken, tmp_path / "new")
    with pytest.raises(Exception, match=r"\.png"):
        _train(new)  # a new run: nothing of it is left
    assert not (tmp_path / "new").exists()


def test_a_synthetic_run_whose_meta_lost_the_data_hash_is_refused(tiny_root: Path, tmp_path: Path, one_thread: None) -> None:
    rng = np.random.default_rng(0)
    synthetic = tmp_path / "synth.npz"
    np.savez(synthetic, image=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), label=np.arange(64) % 10)
    config = _config(tiny_root, tmp_path / "runs", epochs=1, synthetic=str(synthetic), synthetic_fraction=0.25)
    run = _train(config)
    (run.path / "metrics.json").unlink()
    meta = json.loads((run.path / "meta.json").read_text())
    (run.path / "meta.json").write_text(json.dumps(meta | {"inputs": meta["inputs"] | {"synthetic": None}}))
    before = _snapshot(run.path)
    with pytest.raises(RunFolderError, match=r"holds no hash of the synthesized data .* --force"):
        _train(config)  # resumed, it could not check it mixes in the same images
    assert _snapshot(run.path) == before


def test_without_locking_a_writer_warns(stored: tuple[Any, Path], reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ATLIB_NO_LOCK=1, for filesystems without flock: the run is written, and the warning says nothing guards it."""
    config, folder = stored
    monkeypatch.setenv("ATLIB_NO_LOCK", "1")
    with pytest.warns(UserWarning, match="written without a lock"):
        run = _train(config)
    assert run.complete
    _same_run(folder, reference)


def test_an_evaluation_of_a_locked_run_is_refused(reference: Path, tmp_path: Path) -> None:
    from atlib.evaluate.corruptions import add_cifar_c_metrics

    folder = Path(shutil.copytree(reference, tmp_path / reference.name))
    with open(folder / ".atlib.lock", "r+") as lock:  # a training of this run, say, holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = _snapshot(folder)
        with pytest.raises(RunBusyError, match="in use by another process"):
            add_cifar_c_metrics(folder, tmp_path / "cifar-c")
        assert _snapshot(folder) == before


def test_tensorboard_shows_each_point_once_after_a_kill_between_a_point_and_its_checkpoint(
        tiny_root: Path, tmp_path: Path, one_thread: None) -> None:
    """The records are one point ahead of the checkpoint: that point is dropped and rewritten, and TensorBoard
    must reopen before it (purge_step), not after it, or the point is shown twice."""
    pytest.importorskip("tensorboard")
    from test_cli_training import _scalars

    config = _config(tiny_root, tmp_path, tensorboard=True)

    def killed_run() -> None:
        _kill_at("atlib.store.writer:RunWriter.save_checkpoint", 2, "before", None)
        _train(config)

    code, message = _in_child(killed_run)
    assert code == KILLED, f"the child was not killed (exit {code}: {message})"
    run = _train(config)
    steps = [p["step"] for p in run.records.points]
    for tag in ("accuracy/test", "loss/train"):
        assert [step for step, _ in _scalars(run.path / "tb", tag)] == steps, tag
