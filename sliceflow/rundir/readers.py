"""Readers of a run folder's files; each turns a damaged file into a one-line ``RunDirError``.

Every file is opened through :mod:`sliceflow.rundir.bounded` (regular files only, each under a
size cap). YAML is read by :func:`read_scenario` alone (bounded in size, depth and nodes) and
scenario.yaml checked field by field by :func:`read_record`; the tables are read by
:mod:`sliceflow.rundir.traces`, which drops damaged rows with a warning line each. The message
names the file and the fix (re-run the scenario), never a traceback.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sliceflow.errors import RunDirError
from sliceflow.rundir import bounded
from sliceflow.rundir.layout import REWRITE, TraceSchema
from sliceflow.rundir.record import check_record, shown
from sliceflow.rundir.traces import (
    MethodTrace,
    SummaryRow,
    read_metrics_file,
    read_summary_file,
    read_trace_file,
    summary_from_trace,
)
from sliceflow.yaml_safe import YAMLInputError, safe_load

MAX_ENTRIES = 10_000  # arrays in an .npz archive (the engine writes one per method and a few)

__all__ = [
    "MethodTrace", "SummaryRow", "parsed", "read_csv", "read_metrics", "read_npz", "read_record",
    "read_scenario", "read_summary", "read_trace", "summary_from_trace",
]  # fmt: skip


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts.

    Parameters
    ----------
    path : Path
        The file (a regular file under ``bounded.MAX_CSV_BYTES``).
    columns : tuple of str
        The columns it must have (others are kept).

    Returns
    -------
    list of dict of str to str
        One dict per row, column -> text.

    Raises
    ------
    RunDirError
        If it is unreadable, not text or misses a column.
    """
    reader = csv.DictReader(io.StringIO(bounded.read_text(path, bounded.MAX_CSV_BYTES), newline=""))
    try:
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise RunDirError(
                f"{path}: missing column(s) {', '.join(missing)}; expected "
                f"{','.join(columns)} ({REWRITE})"
            )
        return list(reader)
    except csv.Error as error:
        raise RunDirError(f"{path}: not a CSV table ({error}); {REWRITE}") from None


def parsed(path: Path, reader, *args):
    """``reader(path, *args)``, with a malformed value turned into a one-line RunDirError."""
    try:
        return reader(path, *args)
    except RunDirError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise RunDirError(f"{path}: malformed content ({error}); {REWRITE}") from None


def read_trace(path: Path, schema: TraceSchema) -> tuple[list[str], dict[str, MethodTrace]]:
    """trace.csv as (methods in order of first appearance, one :class:`MethodTrace` each);
    any damaged row is a RunDirError (the reports use :func:`read_trace_file`, which drops
    it with a warning)."""
    found = read_trace_file(path, schema, strict=True)
    return found.labels, found.traces


def read_summary(path: Path) -> dict[str, list[SummaryRow]]:
    """summary.csv as each method's rows, sorted by step; any damaged row is a RunDirError."""
    return read_summary_file(path, strict=True)[0]


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.csv as dicts with keys method, seed, step (ints), name and value (float); any
    damaged row is a RunDirError."""
    return read_metrics_file(path, strict=True)[0]


def read_scenario(path: Path) -> dict[str, Any]:
    """A YAML mapping of a run or sweep folder ({} if absent): the one reader of their YAML.

    Bounded before anything is built from it: its size (``bounded.MAX_YAML_BYTES``), then what
    :func:`sliceflow.yaml_safe.safe_load` bounds (nesting, values with every alias expanded,
    integer literals, repeated keys), so a hostile file is a one-line RunDirError, never a hang.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    dict
        Its mapping ({} for an absent or empty file).

    Raises
    ------
    RunDirError
        If it is not a regular file, too large, not YAML, not a mapping or out of bounds.
    """
    if not bounded.present(path):
        return {}
    text = bounded.read_text(path, bounded.MAX_YAML_BYTES)
    try:
        data = safe_load(text)
    except YAMLInputError as error:  # out of bounds: too deep, too many values, repeated keys
        where = f" line {error.line}" if error.line else ""
        problem = str(error.problem).split(";")[0]  # its fix is the file's writer's, not ours
        raise RunDirError(f"{path}{where}: {problem}; {REWRITE}") from None
    except RecursionError:
        raise RunDirError(f"{path}: nested too deeply; {REWRITE}") from None
    except ValueError:  # a number of thousands of digits, which Python refuses to convert
        raise RunDirError(f"{path}: a number too long to read; {REWRITE}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RunDirError(f"{path}{where}: not valid YAML; {REWRITE}") from None
    if data is not None and not isinstance(data, dict):
        raise RunDirError(f"{path}: not a mapping of keys; {REWRITE}")
    return data or {}


def read_record(path: Path) -> dict[str, Any]:
    """A run folder's scenario.yaml ({} if absent), every field the reports use checked for
    its type (:func:`sliceflow.rundir.record.check_record`); RunDirError naming the field."""
    return check_record(read_scenario(path), path)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, each checked before it is read.

    Real numbers only (no pickles, text, complex or structured values), each entry holding the
    data its header announces, at most ``MAX_ENTRIES`` entries and ``bounded.MAX_NPZ_BYTES``
    bytes unpacked.

    Raises
    ------
    RunDirError
        One line naming the file (and the array) if it is damaged or out of bounds.
    """
    limit = bounded.MAX_NPZ_BYTES
    with bounded.open_regular(path, limit) as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                entries = [i for i in archive.infolist() if i.filename.endswith(".npy")]
                unpacked = sum(i.file_size for i in entries)
                if len(entries) > MAX_ENTRIES or unpacked > limit:
                    raise RunDirError(
                        f"{path}: {bounded.size_text(unpacked)} in {len(entries)} arrays unpacked, "
                        f"more than sliceflow reads ({bounded.size_text(limit)} in {MAX_ENTRIES}); "
                        f"{REWRITE}"
                    )
                return {i.filename[:-4]: _read_entry(archive, i, path) for i in entries}
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError,
                NotImplementedError) as error:  # fmt: skip
            if isinstance(error, RunDirError):
                raise
            reason = str(error).splitlines()[0][:80] if str(error) else type(error).__name__
            raise RunDirError(
                f"{path}: not a readable .npz archive ({reason}); {REWRITE}"
            ) from None


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    """One array of an archive, after its header: real numbers, no more than the entry holds."""
    name = info.filename[:-4]
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"array {name!r}: .npy format {version}")
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else (
            np.lib.format.read_array_header_2_0)  # fmt: skip
        shape, _, dtype = header(stream)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise RunDirError(
            f"{path}: array {shown(name)} holds {dtype} values, not real numbers; {REWRITE}"
        )
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise ValueError(f"array {name!r} announces more data than it holds")
    with archive.open(info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)
