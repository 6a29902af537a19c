"""Atomic writers: a temporary file in the same folder, then a rename.

An interrupted run therefore leaves complete files for the steps it finished, never a
half-written one. A write the system refuses (full disk, read-only folder...) leaves the file as
it was and raises a one-line ``RunDirWriteError`` naming it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import os
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sliceflow.errors import RunDirWriteError

# The process umask, read once (reading it means setting it), for the mode of the files written.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating its folder.

    Parameters
    ----------
    path : Path
        The file written; replaced whole if it exists.
    data : bytes
        Its content.

    Returns
    -------
    Path
        ``path``, with the usual mode (``0o666`` less the umask).

    Raises
    ------
    RunDirWriteError
        When the system refuses (full disk, quota, read-only or missing folder...): one line
        naming the file, why and what to do. ``path`` is then as it was before (no temporary
        file is left behind).
    """
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            _write_all(handle, data)
        finally:
            os.close(handle)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if isinstance(error, OSError):
            raise write_error(path, error) from None
        raise
    return path


def _write_all(handle: int, data: bytes) -> None:
    """``os.write`` until every byte is written (one call may write fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


def write_error(path: Path, error: OSError) -> RunDirWriteError:
    """The one-line error for ``path`` that could not be written because of ``error``."""
    reason = error.strerror or type(error).__name__
    return RunDirWriteError(
        f"{path}: could not be written ({reason}); {write_advice(error.errno)}, then try again",
        path=path, reason=reason, errno=error.errno,
    )  # fmt: skip


def write_advice(number: int | None) -> str:
    """What to do about a failed write, from its ``errno``."""
    if number in (errno.ENOSPC, errno.EDQUOT):
        return "free space on that disk"
    if number in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "make that folder writable"
    if number in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENOENT):
        return "check the path (a file stands where a folder should, or the reverse)"
    return "check the disk"


def _fmt(value: Any) -> Any:
    """A float as the shortest text that reads back to the same float (``inf``, ``nan``)."""
    if isinstance(value, float):
        return "inf" if math.isinf(value) else ("nan" if math.isnan(value) else repr(value))
    return value


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Path:
    """A CSV file: a header, then one line per row (``\\n`` line ends, floats exact).

    Parameters
    ----------
    path : Path
        The file written.
    columns : iterable of str
        The header.
    rows : iterable of iterable
        The rows, in file order.

    Returns
    -------
    Path
        ``path``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_fmt(v) for v in row] for row in rows)
    return atomic_write_bytes(path, buffer.getvalue().encode())


def write_text(path: Path, text: str) -> Path:
    """A UTF-8 text file; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_yaml(path: Path, data: dict) -> Path:
    """A YAML file of ``data``, keys in their given order; returns ``path``."""
    return atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """What ``np.savez_compressed`` writes, with fixed entry dates.

    The same arrays then give the same bytes (numpy stamps each entry with the time of writing).

    Parameters
    ----------
    path : Path
        The archive written.
    arrays : dict of str to np.ndarray
        One ``<name>.npy`` entry per array, in the given order; no pickles.

    Returns
    -------
    Path
        ``path``.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())
