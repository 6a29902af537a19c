"""Atomic writers: a temporary file in the same folder, then a rename.

An interrupted run therefore leaves complete files for the steps it finished, never a
half-written one.
"""

from __future__ import annotations

import csv
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
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


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
