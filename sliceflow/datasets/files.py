"""The user's data files (``.npy``, ``.csv``), read strictly, within bounds, one line per problem.

A data file is a user's input like a scenario: it may be empty, truncated, of another kind, a
directory, a FIFO or ``/dev/zero``, complex-valued or huge. Every such file gives a
:class:`DataFileError` naming the file (as given and resolved) and, where it applies, the row
(``.npy``, 0-based) or the line (``.csv``, 1-based as editors count), with the fix. Valid files
are read exactly as ``np.load`` and ``np.loadtxt`` read them.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sliceflow.errors import UserError

MAX_CSV_BYTES = 256 * 2**20  # text beyond this is slow to parse and belongs in a .npy
REAL_KINDS = {"f": "floats", "i": "integers", "u": "unsigned integers"}
KIND_NAMES = {"c": "complex numbers", "b": "booleans", "O": "Python objects", "U": "strings",
              "S": "bytes", "V": "raw records", "M": "dates", "m": "time deltas"}  # fmt: skip


class DataFileError(UserError):
    """A data file that cannot be used: one line naming the file, the row or line, the fix."""


def describe(given: str | os.PathLike, path: Path) -> str:
    """``'p.csv' (/abs/p.csv)``: a file as the scenario names it and where that resolves to."""
    resolved = str(Path(path).resolve())
    return repr(str(given)) + ("" if str(given) == resolved else f" ({resolved})")


def open_regular(path: Path, name: str) -> BinaryIO:
    """The file opened for reading, or DataFileError when it is missing, a directory or a special
    file (FIFO, device, socket): those are refused before a byte is read, so that a FIFO never
    blocks and ``/dev/zero`` is never read."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on regular files).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataFileError(f"{name}: not found; check the path (relative to the scenario's "
                            "folder)") from None  # fmt: skip
    except IsADirectoryError:
        raise DataFileError(f"{name}: is a directory; give a data file") from None
    except OSError as error:
        raise DataFileError(f"{name}: cannot be opened ({error.strerror or error}); check the "
                            "file's permissions") from None  # fmt: skip
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
        raise DataFileError(f"{name}: is {kind}, not a regular file; give a data file")
    return os.fdopen(fd, "rb")


def read_npy(path: Path, name: str) -> np.ndarray:
    """The array of a ``.npy`` file of real numbers (floats or integers), as ``np.load`` reads it;
    its header is checked first (kind, dtype, size against the file's length)."""
    with open_regular(path, name) as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            raise DataFileError(f"{name}: is empty (0 bytes); save the data with numpy.save")
        try:
            version = np.lib.format.read_magic(file)
            read_header = np.lib.format.read_array_header_1_0
            if version != (1, 0):
                read_header = np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(file)
        except Exception as error:  # numpy parses the header with ast: it fails in many ways
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataFileError(f"{name}: is not a valid .npy file ({reason}); save the data "
                                "with numpy.save") from None  # fmt: skip
        check_real(dtype, name)
        expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if size - file.tell() < expected:
            raise DataFileError(
                f"{name}: is truncated: its header announces shape {tuple(shape)} of {dtype} "
                f"({expected:,} bytes) but {size - file.tell():,} bytes follow it; save it again"
            )
        file.seek(0)
        try:
            return np.load(file, allow_pickle=False)
        except (ValueError, EOFError, OSError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataFileError(f"{name}: cannot be read ({reason}); save it again with "
                                "numpy.save") from None  # fmt: skip


def check_real(dtype: np.dtype, name: str) -> None:
    """DataFileError unless ``dtype`` holds plain real numbers (complex values would lose their
    imaginary part, records and objects have no meaning as coordinates)."""
    if dtype.kind in REAL_KINDS and dtype.fields is None and dtype.shape == ():
        return
    kind = "structured records" if dtype.fields is not None else KIND_NAMES.get(dtype.kind, "")
    if dtype.kind == "c":
        fix = "give real coordinates (e.g. numpy.column_stack([z.real, z.imag]))"
    elif dtype.fields is not None:
        fix = "save a plain float array (numpy.lib.recfunctions.structured_to_unstructured)"
    else:
        fix = "save a float array of shape (samples, dimension)"
    raise DataFileError(f"{name}: holds {kind or 'non-numbers'} (dtype {dtype}), not real numbers; "
                        f"{fix}")  # fmt: skip


def read_csv(path: Path, name: str) -> tuple[np.ndarray, Callable[[int], str]]:
    """Rows of comma-separated numbers (m, d), and how to name row i in a message (its line).

    A UTF-8 byte-order mark is dropped; blank lines and ``#`` comments are skipped, as
    ``np.loadtxt`` skips them. The first line with content is a header when none of its fields
    is a number; any other line that is not a row of numbers is an error naming it.
    """
    with open_regular(path, name) as file:
        raw = file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise DataFileError(f"{name}: is larger than {MAX_CSV_BYTES:,} bytes of text; save "
                            "the data with numpy.save as a .npy file")  # fmt: skip
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFileError(f"{name}: is UTF-16 text; save it as UTF-8 (or plain ASCII)")
    text = raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if _content(line)), None)
    if first is None:
        raise DataFileError(f"{name}: has no rows of numbers; give one point per line")
    skip = first + 1 if _is_header(_content(lines[first])) else 0
    if not any(_content(line) for line in lines[skip:]):
        raise DataFileError(f"{name}: has a header but no rows of numbers; give one point per line")
    try:
        values = np.loadtxt(io.StringIO("\n".join(lines[skip:])), delimiter=",", ndmin=2)
    except ValueError as error:
        raise _bad_line(lines, skip, name, error) from None

    def where(row: int) -> str:  # found again only for a message: a pass over every line
        numbers = [i + 1 for i in range(skip, len(lines)) if _content(lines[i])]
        return f"line {numbers[row]}" if len(numbers) == len(values) else f"row {row}"

    return values, where


def _content(line: str) -> str:
    """A line without its ``#`` comment and surrounding blanks (what ``np.loadtxt`` parses)."""
    return line.split("#", 1)[0].strip()


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _is_header(content: str) -> bool:
    """Column names: no field of the line is a number (a line mixing both is an error)."""
    return not any(_is_number(field.strip()) for field in content.split(","))


def _bad_line(lines: list[str], skip: int, name: str, error: ValueError) -> DataFileError:
    """The error naming the first line that is not a row of as many numbers as the first row."""
    width = None
    for i in range(skip, len(lines)):
        content = _content(lines[i])
        if not content:
            continue
        fields = [field.strip() for field in content.split(",")]
        shown = content if len(content) <= 40 else content[:37] + "..."
        if not all(_is_number(field) for field in fields):
            header = " (only the first line may be a header of column names)" if i else ""
            return DataFileError(f"{name}: line {i + 1}: {shown!r} is not a row of "
                                 f"comma-separated numbers{header}; fix or remove it")  # fmt: skip
        if width is not None and len(fields) != width:
            return DataFileError(
                f"{name}: line {i + 1} has {len(fields)} values but the rows before it have "
                f"{width}; give every row the same length"
            )
        width = len(fields)
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return DataFileError(f"{name}: cannot be read as comma-separated numbers ({reason})")


def first_nonfinite(values: np.ndarray) -> int | None:
    """Index of the first row (along axis 0) holding a NaN or an infinity, or None."""
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return None if finite.all() else int(np.argmin(finite))


def read_points(path: Path, name: str | None = None) -> np.ndarray:
    """Samples (m, d) float64 from a ``.npy`` or ``.csv`` file (comma-separated, optional header
    line); DataFileError (one line naming ``name``, the row or line) for anything else."""
    name = name or describe(path, path)
    if path.suffix == ".npy":
        points, where = read_npy(path, name), (lambda row: f"row {row}")
    elif path.suffix == ".csv":
        points, where = read_csv(path, name)
    else:
        raise DataFileError(f"{name}: unsupported file type {path.suffix!r}; use .npy or .csv")
    if points.ndim != 2 or points.shape[0] < 1 or points.shape[1] < 1:
        raise DataFileError(
            f"{name}: has shape {points.shape}; expected (samples, dimension), one sample per "
            "row (e.g. points.reshape(-1, 1) for 1-D samples)"
        )
    points = np.asarray(points, dtype=np.float64)
    row = first_nonfinite(points)
    if row is not None:
        raise DataFileError(f"{name}: {where(row)} is not finite ({points[row].tolist()[:4]}); fix "
                            "or remove it")  # fmt: skip
    return points
