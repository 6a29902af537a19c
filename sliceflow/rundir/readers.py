"""Readers of a run folder's files; each turns a damaged file into a one-line ``RunDirError``.

The message names the file and the fix (re-run the scenario), never a traceback.
"""

from __future__ import annotations

import csv
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sliceflow.errors import RunDirError
from sliceflow.rundir.layout import METRIC_COLUMNS, REWRITE, SUMMARY_COLUMNS, TraceSchema
from sliceflow.rundir.statistics import quartiles_log10


@dataclass
class MethodTrace:
    """One method's trace rows sorted by (seed, step).

    Attributes
    ----------
    seeds, steps : np.ndarray
        (R,) int: the seed and the step of each row.
    values : dict of str to np.ndarray
        Each value column of the schema: (R,) float (inf or NaN for a diverged seed).
    elapsed_s : np.ndarray
        (R,) seconds since the method started, at each row.
    primary : str
        The value column the summary and the figures show.
    """

    seeds: np.ndarray  # (R,) int
    steps: np.ndarray  # (R,) int
    values: dict[str, np.ndarray]  # column -> (R,)
    elapsed_s: np.ndarray  # (R,)
    primary: str

    @property
    def value(self) -> np.ndarray:
        """The primary column, (R,) (inf for a diverged seed)."""
        return self.values[self.primary]

    def seed_series(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, primary values) of one seed, sorted by step."""
        mask = self.seeds == seed
        return self.steps[mask], self.value[mask]


@dataclass
class SummaryRow:
    """One row of summary.csv: quartiles over seeds of the log10 primary value at one step."""

    method: str
    step: int
    n_seeds: int
    n_diverged: int
    q25: float
    median: float
    q75: float


def _number(text: str | None) -> float:
    return float(text) if text not in ("", None) else math.nan


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts.

    Parameters
    ----------
    path : Path
        The file.
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
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise RunDirError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected "
                    f"{','.join(columns)} ({REWRITE})"
                )
            return list(reader)
    except UnicodeDecodeError as error:
        raise RunDirError(f"{path}: not a text CSV file ({error.reason}); {REWRITE}") from None
    except (OSError, csv.Error) as error:
        raise RunDirError(f"{path}: unreadable ({error}); {REWRITE}") from None


def parsed(path: Path, reader, *args):
    """``reader(path, *args)``, with a malformed value turned into a one-line RunDirError."""
    try:
        return reader(path, *args)
    except RunDirError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise RunDirError(f"{path}: malformed content ({error}); {REWRITE}") from None


def read_trace(path: Path, schema: TraceSchema) -> tuple[list[str], dict[str, MethodTrace]]:
    """trace.csv as one :class:`MethodTrace` per method.

    Parameters
    ----------
    path : Path
        The trace file.
    schema : TraceSchema
        Its columns, as the run recorded them.

    Returns
    -------
    labels : list of str
        The methods in order of first appearance.
    traces : dict of str to MethodTrace
        Each method's rows.

    Raises
    ------
    RunDirError
        If the file is unreadable, misses a column or has no rows (see :func:`parsed` for
        malformed values).
    """
    rows = read_csv(path, schema.columns)
    if not rows:
        raise RunDirError(f"{path}: no rows; the run stopped before its first traced step")
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row["method"], []).append(row)
    traces = {}
    for label, group in grouped.items():
        seeds = np.array([int(r["seed"]) for r in group])
        steps = np.array([int(r["step"]) for r in group])
        order = np.lexsort((steps, seeds))
        values = {c: np.array([_number(r[c]) for r in group])[order] for c in schema.values}
        elapsed = np.array([_number(r["elapsed_s"]) for r in group])[order]
        traces[label] = MethodTrace(seeds[order], steps[order], values, elapsed, schema.primary)
    return list(grouped), traces


def read_summary(path: Path) -> dict[str, list[SummaryRow]]:
    """summary.csv as each method's rows, sorted by step."""
    summary: dict[str, list[SummaryRow]] = {}
    for r in read_csv(path, SUMMARY_COLUMNS):
        summary.setdefault(r["method"], []).append(
            SummaryRow(r["method"], int(r["step"]), int(r["n_seeds"]), int(r["n_diverged"]),
                       _number(r["q25"]), _number(r["median"]), _number(r["q75"]))
        )  # fmt: skip
    for rows in summary.values():
        rows.sort(key=lambda s: s.step)
    return summary


def summary_from_trace(traces: dict[str, MethodTrace]) -> dict[str, list[SummaryRow]]:
    """The engine's summary recomputed from trace rows (when summary.csv is missing).

    Parameters
    ----------
    traces : dict of str to MethodTrace
        Each method's trace.

    Returns
    -------
    dict of str to list of SummaryRow
        Per method, one row per traced step (sorted), of :func:`quartiles_log10` over seeds.
    """
    summary = {}
    for label, trace in traces.items():
        summary[label] = [
            SummaryRow(label, int(step), *quartiles_log10(trace.value[trace.steps == step]))
            for step in np.unique(trace.steps)
        ]
    return summary


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.csv as dicts with keys method, seed, step (ints), name and value (float)."""
    return [
        {"method": r["method"], "seed": int(r["seed"]), "step": int(r["step"]),
         "name": r["name"], "value": _number(r["value"])}
        for r in read_csv(path, METRIC_COLUMNS)
    ]  # fmt: skip


def read_scenario(path: Path) -> dict[str, Any]:
    """scenario.yaml as a dict ({} if absent); RunDirError if it is not a YAML mapping."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RunDirError(f"{path}{where}: not valid YAML; {REWRITE}") from None
    if data is not None and not isinstance(data, dict):
        raise RunDirError(f"{path}: not a mapping of keys; {REWRITE}")
    return data or {}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file (no pickles); RunDirError if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0][:80] if isinstance(error, zipfile.BadZipFile) else ""
        raise RunDirError(f"{path}: not a readable .npz archive {reason}; {REWRITE}") from None
