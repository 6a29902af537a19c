"""trace.csv, summary.csv and metrics.csv read back, with the damage each had.

Each reader returns what was kept and one warning line per kind of row it dropped (see
:mod:`sliceflow.rundir.rows`); it raises a one-line ``RunDirError`` only when nothing usable is
left. Numbers are parsed as the engine wrote them (``float`` of the shortest repr), so a valid
file reads back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sliceflow.errors import RunDirError
from sliceflow.rundir.layout import REWRITE, TraceSchema
from sliceflow.rundir.record import shown
from sliceflow.rundir.rows import MAX_METRICS, Expected, read_rows
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


@dataclass
class TraceFile:
    """trace.csv as read: the methods in order of first appearance, their rows, the damage."""

    labels: list[str]
    traces: dict[str, MethodTrace]
    warnings: list[str] = field(default_factory=list)


def read_trace_file(path: Path, schema: TraceSchema, expect: Expected = Expected(),
                    strict: bool = False) -> TraceFile:  # fmt: skip
    """trace.csv as one :class:`MethodTrace` per method, damaged rows dropped.

    Parameters
    ----------
    path : Path
        The trace file.
    schema : TraceSchema
        Its columns, as the run recorded them.
    expect : Expected
        The methods, seeds and steps a row may name.
    strict : bool
        Take no damage: a damaged row is a RunDirError.

    Returns
    -------
    TraceFile
        The rows kept, per method, and one warning per kind of row dropped.

    Raises
    ------
    RunDirError
        If the file is unreadable, misses a column or has no usable row.
    """
    fields = [("method", "method"), ("seed", "seed"), ("step", "step")]
    fields += [(column, "float") for column in (*schema.values, "elapsed_s")]
    rows, damage = read_rows(path, fields, 3, expect)
    if strict:
        damage.check()
    if not rows and not damage.kinds:
        raise RunDirError(f"{path}: no rows; the run stopped before its first traced step")
    if not rows:
        first = damage.lines()[0].removeprefix(f"{path}: ")
        raise RunDirError(f"{path}: no usable row ({first}); {REWRITE}")
    grouped: dict[str, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    traces = {}
    for label, group in grouped.items():
        columns = list(zip(*group, strict=True))  # method, seed, step, values..., elapsed_s
        seeds, steps = np.array(columns[1]), np.array(columns[2])
        order = np.lexsort((steps, seeds))
        values = {c: np.array(columns[3 + i])[order] for i, c in enumerate(schema.values)}
        elapsed = np.array(columns[-1])[order]
        traces[label] = MethodTrace(seeds[order], steps[order], values, elapsed, schema.primary)
    return TraceFile(list(grouped), traces, damage.lines())


def _summary_row_problem(values: tuple) -> str | None:
    n_seeds, n_diverged = values[2], values[3]
    return None if n_diverged <= n_seeds else f"n_diverged {n_diverged} > n_seeds {n_seeds}"


def read_summary_file(path: Path, expect: Expected = Expected(), strict: bool = False
                      ) -> tuple[dict[str, list[SummaryRow]], list[str]]:  # fmt: skip
    """summary.csv as each method's rows sorted by step, and one warning per kind of row
    dropped (RunDirError if it is unreadable or misses a column, or if ``strict`` and a row is
    damaged)."""
    fields = [
        ("method", "method"),
        ("step", "step"),
        ("n_seeds", "count"),
        ("n_diverged", "count"),
        ("q25", "float"),
        ("median", "float"),
        ("q75", "float"),
    ]
    rows, damage = read_rows(path, fields, 2, expect, _summary_row_problem)
    if strict:
        damage.check()
    summary: dict[str, list[SummaryRow]] = {}
    for row in rows:
        summary.setdefault(row[0], []).append(SummaryRow(*row))
    for found in summary.values():
        found.sort(key=lambda s: s.step)
    return summary, damage.lines()


def read_metrics_file(path: Path, expect: Expected = Expected(), strict: bool = False
                      ) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """metrics.csv as dicts with keys method, seed, step (ints), name and value (float), and
    one warning per kind of row dropped; at most ``MAX_METRICS`` names are kept (``strict``:
    a damaged row is a RunDirError)."""
    fields = [("method", "method"), ("seed", "seed"), ("step", "step"), ("name", "name"),
              ("value", "float")]  # fmt: skip
    rows, damage = read_rows(path, fields, 4, expect)
    if strict:
        damage.check()
    names: dict[str, None] = {}
    kept = []
    for method, seed, step, name, value in rows:
        if name not in names and len(names) == MAX_METRICS:
            damage.note("names", 0, f"name {shown(name)}")
            continue
        names[name] = None
        kept.append({"method": method, "seed": seed, "step": step, "name": name, "value": value})
    return kept, damage.lines()


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
