"""The boundary of every command-line tool (``python -m atlib ...``): how a failure reaches the user.

- A failure prints one line on stderr, ``error: ...``, and the command exits with 2. atlib's own errors
  (``ValueError``, :class:`~atlib.errors.FileError`, files not found) say what went wrong and what to do;
  an OS error names the file and the fix for its cause (disk full, no permission, read-only); anything
  else prints its type and message.
- ``ATLIB_DEBUG=1`` prints the traceback as well.
- Ctrl-C prints ``interrupted; resume with the same command`` and exits with 130: every long command
  resumes where it stopped.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from typing import Callable, TypeVar

from atlib.errors import AtlibError, describe

DEBUG_ENV = "ATLIB_DEBUG"
FAILED, INTERRUPTED = 2, 130
INTERRUPTED_MESSAGE = "interrupted; resume with the same command"

# The fix for an OS error, by its cause.
_OS_FIXES = {
    errno.ENOSPC: "the disk is full: free space (or choose another output folder), then run the same command again",
    errno.EDQUOT: "the disk quota is exhausted: free space (or choose another output folder), then run the same command again",
    errno.EFBIG: "the file is larger than this system allows: free space or lift the file-size limit, then run the same command again",
    errno.EACCES: "no permission: check the permissions of this path, or choose another folder",
    errno.EPERM: "not permitted: check the permissions of this path, or choose another folder",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of this path is a file, not a folder: check the path",
    errno.EISDIR: "this is a folder, not a file: check the path",
}

F = TypeVar("F", bound=Callable[..., int])


def command(main: F) -> F:
    """Wrap a CLI's ``main(argv) -> exit code`` in the boundary: failures become one line and exit code 2,
    Ctrl-C exit code 130. ``SystemExit`` (argparse's usage errors, ``--help``) passes through."""

    @functools.wraps(main)
    def boundary(*args: object, **kwargs: object) -> int:
        try:
            return main(*args, **kwargs)
        except KeyboardInterrupt:
            _traceback()
            print(INTERRUPTED_MESSAGE, file=sys.stderr)
            return INTERRUPTED
        except Exception as err:  # noqa: BLE001 - the boundary: every failure becomes one line
            _traceback()
            print(f"error: {message(err)}", file=sys.stderr)
            return FAILED

    return boundary  # type: ignore[return-value]


def message(err: BaseException) -> str:
    """The one line a failure prints: atlib's own messages as they are, OS errors with their file and fix,
    any other exception with its type."""
    if isinstance(err, AtlibError):  # its message names the file and the fix (an OSError's is its strerror)
        return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    if isinstance(err, OSError) and err.errno is not None:
        where = f"{err.filename}: " if err.filename is not None else ""
        fix = _OS_FIXES.get(err.errno)
        return f"{where}{describe(err)}" + (f"; {fix}" if fix else "")
    if isinstance(err, (ValueError, FileNotFoundError, ImportError)):
        return str(err)
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str) and " " in err.args[0]:
        return err.args[0]  # atlib's KeyErrors are sentences; a bare key is a bug, shown with its type below
    return f"{describe(err)} (set {DEBUG_ENV}=1 for the traceback)"


def _traceback() -> None:
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exc()
