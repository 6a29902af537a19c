"""Run directory files, always written atomically (temporary file in the same folder + rename).

An interrupted run therefore leaves complete files for the steps it finished, never a half-written
one.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from sliceflow.metrics import quartiles_log10

TRACE_COLUMNS = ("method", "seed", "step", "loss", "w2sq", "elapsed_s")
SUMMARY_COLUMNS = ("method", "step", "n_seeds", "n_diverged", "q25", "median", "q75")
METRIC_COLUMNS = ("method", "seed", "step", "name", "value")
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
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


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else ("nan" if math.isnan(value) else repr(value))
    return value


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_fmt(v) for v in row] for row in rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def write_yaml(path: Path, data: dict) -> None:
    atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def write_torch(path: Path, data: Any) -> None:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def summary_rows(trace: list[tuple]) -> list[tuple]:
    """Per method and traced step: n_seeds, n_diverged, q25, median, q75 of log10 w2sq."""
    groups: dict[tuple[str, int], list[float]] = {}
    for method, _seed, step, _loss, w2sq, _elapsed in trace:
        groups.setdefault((method, step), []).append(w2sq)
    return [(method, step, *quartiles_log10(np.array(v))) for (method, step), v in groups.items()]
