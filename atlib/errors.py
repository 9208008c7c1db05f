"""The one exception for a file atlib cannot read or write, naming the file and the fix.

Code that reads or writes a file wraps the work in :func:`file_errors`; whatever the libraries below raise
(an ``OSError``, torch's ``RuntimeError``, an ``EOFError``, ``zipfile.BadZipFile``, PIL's errors) reaches the
user as one line at the CLI boundary (:mod:`atlib.cli`) instead of a traceback from inside a library.
"""

from __future__ import annotations

import os
import zipfile
from contextlib import contextmanager
from typing import Iterator

# What reading or writing a file can raise below atlib: OS errors (PIL's UnidentifiedImageError is one), torch's
# RuntimeError on a damaged archive, EOFError on a cut pickle or stream, a bad zip (.npz), and PIL's SyntaxError
# on a damaged image header.
FILE_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, EOFError, zipfile.BadZipFile, SyntaxError)


class AtlibError(Exception):
    """An error whose message already says what went wrong and what to do: the CLI prints it as it is."""


class FileError(AtlibError):
    """``path`` could not be read or written: what went wrong and what to do."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}; {fix}")
        self.path, self.problem, self.fix = os.fspath(path), problem, fix


@contextmanager
def file_errors(path: str | os.PathLike, fix: str) -> Iterator[None]:
    """Turn the :data:`FILE_ERRORS` raised inside into a :class:`FileError` naming ``path`` and ``fix``."""
    try:
        yield
    except FileError:
        raise
    except FILE_ERRORS as err:
        raise FileError(path, describe(err), fix) from err


def describe(err: BaseException) -> str:
    """An exception in one line: the OS's words for an OS error, else its type and first line."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
