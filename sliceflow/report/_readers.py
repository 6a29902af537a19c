"""Low-level readers of a run directory's files: the CSV tables, scenario.yaml, and their rows.

Every user-caused problem (missing column, malformed value, invalid YAML) is a one-line RunDirError.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

TRACE_COLUMNS = ("method", "seed", "step", "loss", "w2sq", "elapsed_s")
SUMMARY_COLUMNS = ("method", "step", "n_seeds", "n_diverged", "q25", "median", "q75")
METRICS_COLUMNS = ("method", "seed", "step", "name", "value")


class RunDirError(ValueError):
    """A user error about a run directory: a one-line message naming the problem and the fix."""


@dataclass
class MethodTrace:
    """One method's trace: rows sorted by (seed, step)."""

    seeds: np.ndarray  # (R,) int
    steps: np.ndarray  # (R,) int
    loss: np.ndarray  # (R,)
    w2sq: np.ndarray  # (R,) inf for a diverged seed
    elapsed_s: np.ndarray  # (R,)

    def seed_series(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, w2sq) of one seed, sorted by step."""
        mask = self.seeds == seed
        return self.steps[mask], self.w2sq[mask]


@dataclass
class SummaryRow:
    method: str
    step: int
    n_seeds: int
    n_diverged: int
    q25: float
    median: float
    q75: float


def _fail(message: str) -> RunDirError:
    return RunDirError(message)


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; raise RunDirError if a required column is missing."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise _fail(
                    f"{path}: missing column(s) {', '.join(missing)}; expected "
                    f"{','.join(columns)} (re-run the scenario to rewrite it)"
                )
            return list(reader)
    except UnicodeDecodeError as error:
        raise _fail(f"{path}: not a text CSV file ({error.reason}); re-run the scenario") from None


def _to_float(text: str) -> float:
    return float(text) if text not in ("", None) else math.nan


def read_trace(path: Path) -> tuple[list[str], dict[str, MethodTrace]]:
    """trace.csv -> (labels in order of first appearance, {label: MethodTrace})."""
    rows = read_csv(path, TRACE_COLUMNS)
    if not rows:
        raise _fail(f"{path}: no rows; the run stopped before its first traced step (re-run it)")
    labels: list[str] = []
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        label = row["method"]
        if label not in grouped:
            labels.append(label)
            grouped[label] = []
        grouped[label].append(row)
    traces = {}
    for label, group in grouped.items():
        seeds = np.array([int(r["seed"]) for r in group])
        steps = np.array([int(r["step"]) for r in group])
        order = np.lexsort((steps, seeds))
        traces[label] = MethodTrace(
            seeds=seeds[order],
            steps=steps[order],
            loss=np.array([_to_float(r["loss"]) for r in group])[order],
            w2sq=np.array([_to_float(r["w2sq"]) for r in group])[order],
            elapsed_s=np.array([_to_float(r["elapsed_s"]) for r in group])[order],
        )
    return labels, traces


def read_summary(path: Path) -> dict[str, list[SummaryRow]]:
    rows = read_csv(path, SUMMARY_COLUMNS)
    summary: dict[str, list[SummaryRow]] = {}
    for r in rows:
        summary.setdefault(r["method"], []).append(
            SummaryRow(
                method=r["method"],
                step=int(r["step"]),
                n_seeds=int(r["n_seeds"]),
                n_diverged=int(r["n_diverged"]),
                q25=_to_float(r["q25"]),
                median=_to_float(r["median"]),
                q75=_to_float(r["q75"]),
            )
        )
    for label in summary:
        summary[label].sort(key=lambda s: s.step)
    return summary


def summary_from_trace(traces: dict[str, MethodTrace]) -> dict[str, list[SummaryRow]]:
    """Quartiles of log10 w2sq over the finite seeds per (method, step), as the engine's summary.

    n_seeds counts every seed, n_diverged the non-finite ones; log10 of max(w2sq, tiny);
    numpy's linear percentiles. Used only when summary.csv is missing (a run killed early).
    """
    summary: dict[str, list[SummaryRow]] = {}
    for label, trace in traces.items():
        rows = []
        for step in np.unique(trace.steps):
            values = trace.w2sq[trace.steps == step]  # (S,)
            finite = values[np.isfinite(values)]
            q25 = med = q75 = math.nan
            if finite.size:
                logs = np.log10(np.maximum(finite, np.finfo(float).tiny))
                q25, med, q75 = (float(q) for q in np.percentile(logs, [25, 50, 75]))
            n_div = int(values.size - finite.size)
            rows.append(SummaryRow(label, int(step), int(values.size), n_div, q25, med, q75))
        summary[label] = rows
    return summary


def read_metrics(path: Path) -> list[dict[str, Any]]:
    rows = read_csv(path, METRICS_COLUMNS)
    return [
        {
            "method": r["method"],
            "seed": int(r["seed"]),
            "step": int(r["step"]),
            "name": r["name"],
            "value": _to_float(r["value"]),
        }
        for r in rows
    ]


def _parsed(path: Path, reader):
    """reader(path), with a malformed value turned into a one-line RunDirError."""
    try:
        return reader(path)
    except RunDirError:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise _fail(
            f"{path}: malformed content ({error}); re-run the scenario to rewrite it"
        ) from None


def read_scenario(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise _fail(f"{path}{where}: not valid YAML; re-run the scenario to rewrite it") from None
    return data if isinstance(data, dict) else {}
