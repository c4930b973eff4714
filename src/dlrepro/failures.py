"""Failures a stage expects and can explain in one line: the CLI prints that line (no traceback).

Torch-free, so the CLI can name them without importing torch.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path


class StageFailure(Exception):
    """A failure whose message says what went wrong and what to do."""


def first_line(error: BaseException) -> str:
    """What `error` says, cut to its first line to quote in a one-line message (its type's name
    where it says nothing)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name `path` in an OSError raised inside that names no file (a write to an open file that
    hit a full disk), so its one line can say where."""
    try:
        yield
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise


def file_system_failure(error: OSError) -> str | None:
    """The one line for a write the file system refused (disk full, folder not writable), or
    None for any other OSError (a bug to see in full)."""
    path = Path(error.filename) if error.filename else None
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full while writing {path or 'a file'}; free space and re-run"
    if path is None:
        return None
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{error.strerror}: {path}; make {path.parent} writable and re-run"
    return None
