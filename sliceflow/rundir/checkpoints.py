"""checkpoint.pt: what ``--resume`` needs, behind a header and a checksum, loaded without code.

The file is ``CHECKPOINT_MAGIC``, the SHA-256 of the payload, then the payload (``torch.save``
of a dict whose ``format`` is ``sliceflow-checkpoint``), so a truncated, damaged or foreign file
is always detected before it is read. The checksum is no signature: anyone can write a file
that passes it. The payload is therefore read with ``torch.load(weights_only=True)``, which
builds tensors, numbers, strings and plain containers (dict, list, tuple) and refuses any other
object, so a run folder from elsewhere cannot run code. NumPy arrays and scalars, which that
loader refuses, are saved as tagged dicts holding their raw bytes and rebuilt exactly on reading
(:mod:`sliceflow.rundir._codec`): the same dtype, shape, memory order and bits.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sliceflow.errors import RunDirError
from sliceflow.rundir._codec import decode, encode
from sliceflow.rundir.layout import CHECKPOINT_FILE
from sliceflow.rundir.writers import atomic_write_bytes

CHECKPOINT_MAGIC = b"sliceflow checkpoint v2\n"
_HEADER = b"sliceflow checkpoint v"  # every version's header starts so
_DIGEST = 32  # bytes of a SHA-256


def write_checkpoint(path: Path, data: Any) -> Path:
    """``torch.save(encode(data))`` behind the header and its SHA-256, written atomically.

    Parameters
    ----------
    path : Path
        The checkpoint file.
    data : Any
        What the engine needs to resume: tensors, NumPy arrays and scalars, numbers, strings
        and dicts, lists and tuples of them (see :func:`encode`).

    Returns
    -------
    Path
        ``path``.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(encode(data), buffer)
    payload = buffer.getvalue()
    return atomic_write_bytes(path, CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint a run wrote; no object other than data is ever built.

    Parameters
    ----------
    path : Path
        checkpoint.pt of the run folder given to ``--resume``.

    Returns
    -------
    dict
        The saved dict (tensors on the CPU, NumPy values as they were saved).

    Raises
    ------
    RunDirError
        One line naming the file and the fix, if it is missing, unreadable, damaged, foreign,
        written by another version, or holds anything but data.
    """
    if not path.is_file():
        raise RunDirError(
            f"--resume: no {CHECKPOINT_FILE} in {str(path.parent)!r}; run without --resume or "
            "point --out at an interrupted run"
        )
    start_over = "run without --resume to start over, or choose another --out"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RunDirError(f"{path}: unreadable ({error.strerror}); {start_over}") from None
    if not data.startswith(CHECKPOINT_MAGIC):
        raise RunDirError(f"{path}: {_foreign(data)}; {start_over}")
    head = len(CHECKPOINT_MAGIC)
    payload = data[head + _DIGEST :]
    if hashlib.sha256(payload).digest() != data[head : head + _DIGEST]:
        raise RunDirError(f"{path}: damaged (its checksum does not match); {start_over}")
    saved = _load(path, payload, start_over)
    if not isinstance(saved, dict) or saved.get("format") != "sliceflow-checkpoint":
        raise RunDirError(f"{path}: not a sliceflow checkpoint; {start_over}")
    try:
        return decode(saved)
    except (ValueError, RecursionError) as error:
        raise RunDirError(f"{path}: damaged ({error}); {start_over}") from None


def _foreign(data: bytes) -> str:
    """What a file that lacks this version's header is."""
    if not data.startswith(_HEADER):
        return "not a sliceflow checkpoint"
    version = data[len(_HEADER) : data.find(b"\n")].decode("ascii", "replace")
    if version == "1":
        return "written by an older sliceflow (checkpoint v1), whose files cannot be resumed safely"
    return f"written by another version of sliceflow (checkpoint v{version[:20]})"


def _load(path: Path, payload: bytes, start_over: str) -> Any:
    """``torch.load(weights_only=True)``: a refusal or a parse error becomes one line."""
    import torch

    try:
        with warnings.catch_warnings():  # e.g. on an odd pickle protocol: the error says it all
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        # weights_only refuses every global it does not know: code, classes, NumPy objects
        raise RunDirError(
            f"{path}: holds objects other than tensors, numbers, strings and containers (it may "
            f"have been made to run code), so it was not loaded; {start_over}"
        ) from None
    except (RuntimeError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, zipfile.BadZipFile) as error:  # fmt: skip
        # the checksum matched, so these bytes were written as they are: not by sliceflow
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise RunDirError(
            f"{path}: not a sliceflow checkpoint ({type(error).__name__}{': ' if reason else ''}"
            f"{reason}); {start_over}"
        ) from None


# -- what a run's checkpoint holds, checked on reading ---------------------------------------------
_CELLS = frozenset({str, int, float, bool, type(None)})  # what a table row's cells may be


def check_checkpoint(saved: dict[str, Any], *, labels: Sequence[str], seeds: Sequence[int],
                     steps: int, snapshot_steps: Sequence[int], trace_columns: Sequence[str],
                     tables: Mapping[str, Sequence[str]],
                     particles: Mapping[str, np.ndarray]) -> None:  # fmt: skip
    """Check that ``saved`` is what a run of these methods, seeds and steps writes.

    Every part is read back as strictly as a scenario file: its type, and each row's, entry's
    and array's. A stepper's own state is its ``load_state_dict``'s to check.

    Parameters
    ----------
    saved : dict
        What :func:`read_checkpoint` returned.
    labels, seeds, steps, snapshot_steps : the run's methods, seeds, last step, snapshot steps.
    trace_columns : the columns of trace.csv (a trace row has one value per column).
    tables : name -> columns of the task's extra tables.
    particles : label -> the snapshot array the run fills (its shape and dtype).

    Raises
    ------
    ValueError
        Naming the first part that does not fit (e.g. ``rows[3] is not a trace row``).
    """
    known, seed_set = set(labels), set(seeds)

    def part(key: str, kind: type = dict) -> Any:
        _need(type(saved.get(key)) is kind, f"{key} is not a {kind.__name__}")
        return saved[key]

    def keyed(row: Any, width: int) -> bool:  # (method, seed, step, ...)
        return (type(row) is tuple and len(row) == width and type(row[0]) is str
                and row[0] in known and type(row[1]) is int and row[1] in seed_set
                and type(row[2]) is int and 0 <= row[2] <= steps)  # fmt: skip

    for i, row in enumerate(part("rows", list)):
        _need(keyed(row, len(trace_columns)) and all(map(_number, row[3:])),
              f"rows[{i}] is not a trace row")  # fmt: skip
    for i, row in enumerate(part("metric_rows", list)):
        _need(keyed(row, 5) and type(row[3]) is str and _number(row[4]),
              f"metric_rows[{i}] is not a metric row")  # fmt: skip
    for name, columns in tables.items():
        rows = part("table_rows").get(name)
        _need(type(rows) is list, f"table_rows[{name!r}] is not a list")
        for i, item in enumerate(rows):
            step, row = item if type(item) is tuple and len(item) == 2 else (None, None)
            fit = type(step) is int and 0 <= step <= steps and type(row) is tuple
            fit = fit and len(row) == len(columns) and all(type(v) in _CELLS for v in row)
            _need(fit and row[0] in known, f"table_rows[{name!r}][{i}] is not a row of {name}")
    for label, expected in particles.items():
        array = part("particles").get(label)
        fit = isinstance(array, np.ndarray) and array.dtype == expected.dtype
        _need(
            fit and array.shape == expected.shape,
            f"particles[{label!r}] is not a {expected.dtype} array of shape {expected.shape}",
        )
    fits = {
        "completed": lambda v: type(v) is int and -1 <= v <= steps,
        "elapsed": _number,
        "info": _counters,
        "checkpoints": lambda v: _stepper_at(v, snapshot_steps),
        "finals": lambda v: isinstance(v, np.ndarray),
    }
    for key, fit in fits.items():
        for label, value in part(key).items():
            _need(label in known and fit(value), f"{key}[{label!r}] does not fit this run")


def _need(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(problem)


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _counters(value: Any) -> bool:
    """name -> per-seed list of values (or lists of them), as ``Stepper.info`` gives."""
    return type(value) is dict and all(
        type(name) is str and type(values) is list
        and all(type(v) in _CELLS or (type(v) is list and all(type(w) in _CELLS for w in v))
                for v in values)
        for name, values in value.items()
    )  # fmt: skip


def _stepper_at(value: Any, snapshot_steps: Sequence[int]) -> bool:
    """``{"stepper": state}``, the state of a step at which a snapshot is taken."""
    state = value.get("stepper") if type(value) is dict else None
    return (
        type(state) is dict and type(state.get("step")) is int and state["step"] in snapshot_steps
    )
