"""Bounded reads of a run folder's files: regular files only, each under a size cap.

A run folder may come from anywhere (a colleague, an archive, a damaged disk): a name the engine
writes may hold a named pipe, a device (a symlink to ``/dev/zero``), a folder or gigabytes. The
readers of :mod:`sliceflow.rundir.readers` open every file through here, so such a file is a
one-line ``RunDirError`` before a byte is read, and no read is unbounded. The caps are module
attributes (tests lower them).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from sliceflow.errors import RunDirError
from sliceflow.rundir.layout import REWRITE

MIB = 2**20
MAX_CSV_BYTES = 256 * MIB  # a trace of about three million rows
MAX_YAML_BYTES = 8 * MIB  # scenario.yaml: the scenario and what the run recorded
MAX_NPZ_BYTES = 2048 * MIB  # an archive, on disk and unpacked

# Opening a named pipe for reading waits for a writer unless it is non-blocking.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def size_text(size: int) -> str:
    """``1536`` -> ``1.5 KiB``: a size in the largest binary unit under it."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size:.3g} GiB"  # pragma: no cover (the loop returns)


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def _checked(path: Path, info: os.stat_result, limit: int, hint: str) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise RunDirError(f"{path}: {kind}, not a file sliceflow wrote; remove it, then {REWRITE}")
    if info.st_size > limit:
        raise RunDirError(
            f"{path}: {size_text(info.st_size)}, more than the {size_text(limit)} sliceflow "
            f"reads from a run folder; {hint or REWRITE}"
        )


def open_regular(path: Path, limit: int, hint: str = "") -> BinaryIO:
    """A regular file of at most ``limit`` bytes, open for binary reading.

    Parameters
    ----------
    path : Path
        The file (a symbolic link is followed: it must end at a regular file).
    limit : int
        The most bytes it may hold.
    hint : str
        The fix named when it is too large (default: re-run the scenario).

    Returns
    -------
    BinaryIO
        The open file; the caller closes it.

    Raises
    ------
    RunDirError
        If it is missing, unreadable, not a regular file (a folder, a pipe, a device) or
        larger than ``limit``.
    """
    try:
        _checked(path, os.stat(path), limit, hint)  # before opening: a device is never opened
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        what = "a symbolic link to a missing file" if path.is_symlink() else "missing"
        raise RunDirError(f"{path}: {what}; {REWRITE}") from None
    except OSError as error:
        raise RunDirError(f"{path}: unreadable ({error.strerror}); {REWRITE}") from None
    try:
        _checked(path, os.fstat(descriptor), limit, hint)  # the file opened is the one checked
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_bytes(path: Path, limit: int, hint: str = "") -> bytes:
    """The content of a regular file of at most ``limit`` bytes (see :func:`open_regular`).

    The read itself stops after ``limit`` bytes too, for a file that grows or says it is
    empty (``/proc``).
    """
    with open_regular(path, limit, hint) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as error:
            raise RunDirError(f"{path}: unreadable ({error.strerror}); {REWRITE}") from None
    if len(data) > limit:
        raise RunDirError(
            f"{path}: more than the {size_text(limit)} sliceflow reads from a run folder; "
            f"{hint or REWRITE}"
        )
    return data


def read_text(path: Path, limit: int, hint: str = "") -> str:
    """A UTF-8 text file of at most ``limit`` bytes; RunDirError if it is not UTF-8."""
    data = read_bytes(path, limit, hint)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RunDirError(
            f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); {REWRITE}"
        ) from None


def present(path: Path) -> bool:
    """True if something is at ``path`` (a dangling symbolic link counts: reading it then
    says so, instead of the file being taken as absent)."""
    return path.exists() or path.is_symlink()
