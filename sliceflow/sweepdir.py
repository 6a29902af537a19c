"""The sweep-folder contract: sweep.yaml (grid, versions, timings, state of every point),
sweep.csv (one row per point and method), and how both are read and written.

A sweep folder holds one normal run folder per point (``DIR/<point>/``, see :mod:`sliceflow.rundir`)
beside these files. The engine writes them; the report reads them through this module only, and a
damaged file is a one-line ``RunDirError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sliceflow import rundir
from sliceflow.errors import RunDirError

SWEEP_FILE = "sweep.yaml"
SWEEP_CSV = "sweep.csv"
SHARDS_DIR = ".shards"  # runs of seed shards, removed once merged into their point
SWEEP_FORMAT = "sliceflow-sweep"
STATES = ("pending", "running", "completed", "interrupted", "failed", "lost")
VALUE_COLUMNS = ("method", "median", "q25", "q75", "first_below", "seconds")


def sweep_columns(paths: list[str]) -> tuple[str, ...]:
    """``point``, one column per swept path (as given on the command line), then the values."""
    return ("point", *paths, *VALUE_COLUMNS)


@dataclass
class SweepRow:
    """The final quartiles of log10 of a point's primary trace value, for one method."""

    point: str
    values: dict[str, str]  # swept path -> value as written
    method: str
    median: float
    q25: float
    q75: float
    first_below: int | None  # first traced step whose median is below the threshold
    seconds: float  # the method's compute seconds (exact traces excluded; summed over shards)

    def cells(self, paths: list[str]) -> list[Any]:
        below = "" if self.first_below is None else self.first_below
        return [self.point, *(self.values[p] for p in paths), self.method, self.median,
                self.q25, self.q75, below, self.seconds]  # fmt: skip


def is_sweep(folder: Path | str) -> bool:
    return (Path(folder) / SWEEP_FILE).is_file()


def read_sweep(folder: Path | str) -> dict[str, Any]:
    """sweep.yaml of a sweep folder; RunDirError if it is missing, damaged or foreign."""
    path = Path(folder) / SWEEP_FILE
    if not path.is_file():
        raise RunDirError(f"{folder}: no {SWEEP_FILE}, so not a sweep folder; run sliceflow sweep")
    data = rundir.read_scenario(path)
    points = data.get("points")
    if data.get("format") != SWEEP_FORMAT or not isinstance(points, list) or not isinstance(
            data.get("grid"), dict):  # fmt: skip
        raise RunDirError(f"{path}: not a sliceflow sweep record; {rundir.REWRITE} sweep")
    for point in points:
        if not (isinstance(point, dict) and isinstance(point.get("name"), str)
                and isinstance(point.get("values"), dict)):  # fmt: skip
            raise RunDirError(f"{path}: malformed point {point!r}; {rundir.REWRITE} sweep")
    return data


def write_sweep(folder: Path, record: dict[str, Any]) -> Path:
    return rundir.write_yaml(Path(folder) / SWEEP_FILE, record)


def value_text(value: Any) -> str:
    """How a swept value is written in point names and tables: ``0.01``, ``mlp``, ``[1, 2]``."""
    import yaml

    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def aggregate(folder: Path, record: dict[str, Any], threshold: float | None = None
              ) -> list[SweepRow]:  # fmt: skip
    """sweep.csv's rows: per completed point and method, the last traced step of its summary
    (the engine's quartiles), the first step under ``threshold`` (default: the point's own
    ``output.threshold``) and the method's compute seconds."""
    rows = []
    for point in record["points"]:
        if point.get("state") != "completed":
            continue
        texts = {path: value_text(value) for path, value in point["values"].items()}
        run_dir = Path(folder) / point["name"]
        scenario = rundir.read_scenario(run_dir / rundir.SCENARIO_FILE)
        summary = _summary(run_dir, scenario)
        run = scenario.get("run") if isinstance(scenario.get("run"), dict) else {}
        elapsed = run.get("elapsed_s") if isinstance(run.get("elapsed_s"), dict) else {}
        output = scenario.get("output") if isinstance(scenario.get("output"), dict) else {}
        limit = threshold if threshold is not None else float(output.get("threshold", -1.0))
        for method, steps in summary.items():
            last = steps[-1]
            below = [s.step for s in steps if not math.isnan(s.median) and s.median < limit]
            rows.append(SweepRow(point["name"], texts, method, last.median,
                                 last.q25, last.q75, below[0] if below else None,
                                 float(elapsed.get(method, math.nan))))  # fmt: skip
    return rows


def _summary(run_dir: Path, scenario: dict[str, Any]) -> dict[str, list[rundir.SummaryRow]]:
    path = run_dir / rundir.SUMMARY_FILE
    if path.is_file():
        return rundir.parsed(path, rundir.read_summary)
    schema = rundir.TraceSchema.from_dict((scenario.get("run") or {}).get("trace"))
    _, traces = rundir.parsed(run_dir / rundir.TRACE_FILE, rundir.read_trace, schema)
    return rundir.summary_from_trace(traces)


def write_sweep_csv(folder: Path, paths: list[str], rows: list[SweepRow]) -> Path:
    return rundir.write_csv(Path(folder) / SWEEP_CSV, sweep_columns(paths),
                            [row.cells(paths) for row in rows])  # fmt: skip


def read_sweep_csv(folder: Path, paths: list[str]) -> list[SweepRow]:
    """sweep.csv as rows; RunDirError if it is damaged or misses a column."""
    path = Path(folder) / SWEEP_CSV

    def read(path: Path) -> list[SweepRow]:
        return [
            SweepRow(r["point"], {p: r[p] for p in paths}, r["method"], _number(r["median"]),
                     _number(r["q25"]), _number(r["q75"]),
                     int(r["first_below"]) if r["first_below"] else None, _number(r["seconds"]))
            for r in rundir.read_csv(path, sweep_columns(paths))
        ]  # fmt: skip

    return rundir.parsed(path, read)


def _number(text: str | None) -> float:
    return float(text) if text not in ("", None) else math.nan


__all__ = ["SHARDS_DIR", "STATES", "SWEEP_CSV", "SWEEP_FILE", "SWEEP_FORMAT", "SweepRow",
           "aggregate", "value_text", "is_sweep", "read_sweep", "read_sweep_csv", "sweep_columns",
           "write_sweep", "write_sweep_csv"]  # fmt: skip
