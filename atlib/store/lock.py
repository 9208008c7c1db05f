"""One writer per run folder: an advisory ``fcntl.flock`` on the folder's lock file, held for the whole of a
training, an evaluation or a ``--force``, and released by the kernel when the process ends (even by SIGKILL).

Readers never lock. The holder writes its PID, host and start time into the file, so a second writer's
error names it. Where the filesystem offers no ``flock`` (see docs/run-folder.md), ``ATLIB_NO_LOCK=1``
turns locking off with a warning: then nothing stops two writers of one run.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import socket
import warnings
from pathlib import Path

from atlib.store.io import RunFolderError
from atlib.store.layout import LOCK

NO_LOCK_ENV = "ATLIB_NO_LOCK"


class RunBusyError(RunFolderError):
    """Another process writes this run folder."""


class RunLock:
    """The advisory lock of one run folder (which must exist)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`RunBusyError` naming the holder; nothing in the folder is changed then."""
        if os.environ.get(NO_LOCK_ENV):
            warnings.warn(f"{NO_LOCK_ENV} is set: {self.path.parent} is written without a lock; "
                          "make sure no other process trains or evaluates this run", stacklevel=2)
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunBusyError(f"{self.path.parent} is in use by another process ({self._holder()}); wait for it "
                                   "to finish or stop it, then run the same command again") from None
            raise RunBusyError(f"cannot lock {self.path} ({e.strerror}): this filesystem offers no flock (see "
                               f"docs/run-folder.md); keep runs on a local disk, or set {NO_LOCK_ENV}=1 to write "
                               "without a lock") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {dt.datetime.now().isoformat(timespec='seconds')}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "holder unknown"
        except OSError:
            return "holder unknown"
