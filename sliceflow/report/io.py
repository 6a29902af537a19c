"""Read a saved run directory: trace.csv, summary.csv, metrics.csv, particles.npz, scenario.yaml.

Nothing here recomputes a flow: the report only ever reads what the engine wrote. No matplotlib.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
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


@dataclass
class RunData:
    """Everything a report needs from one run directory."""

    run_dir: Path
    scenario: dict[str, Any]
    labels: list[str]  # methods in scenario order
    traces: dict[str, MethodTrace]
    summary: dict[str, list[SummaryRow]]  # per label, sorted by step
    summary_source: str  # "summary.csv" or "trace.csv" (recomputed when summary.csv is missing)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.scenario.get("name") or self.run_dir.name)

    @property
    def run_info(self) -> dict[str, Any]:
        return dict(self.scenario.get("run") or {})

    @property
    def manifold(self) -> str:
        """Manifold name: ``run.manifold``, else the scenario's ``manifold`` (str or {name: ..})."""
        value = self.run_info.get("manifold", self.scenario.get("manifold", "euclidean"))
        if isinstance(value, dict):
            value = value.get("name", "euclidean")
        return str(value or "euclidean")

    @property
    def total_steps(self) -> int | None:
        steps = self.scenario.get("steps")
        return int(steps) if steps is not None else None

    def n_seeds(self, label: str) -> int:
        return int(np.unique(self.traces[label].seeds).size) if label in self.traces else 0

    def particles_path(self) -> Path:
        return self.run_dir / "particles.npz"


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


def _ordered_labels(scenario: dict[str, Any], trace_labels: list[str]) -> list[str]:
    """Scenario order of the methods that have a trace, then any other traced label."""
    declared = []
    for entry in scenario.get("methods") or []:
        if isinstance(entry, dict):
            declared.append(str(entry.get("label") or entry.get("method")))
    ordered = [label for label in declared if label in trace_labels]
    return ordered + [label for label in trace_labels if label not in ordered]


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; raise RunDirError (one line: problem and fix) on bad input."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise _fail(f"{run_dir}: no such directory; pass the --out directory of a `sliceflow run`")
    if not run_dir.is_dir():
        raise _fail(f"{run_dir}: not a directory; pass the --out directory of a `sliceflow run`")
    trace_path = run_dir / "trace.csv"
    if not trace_path.exists():
        raise _fail(
            f"{run_dir}: no trace.csv, so not a run directory; pass the --out directory of "
            "`sliceflow run` (or run the scenario first)"
        )
    scenario = read_scenario(run_dir / "scenario.yaml")
    trace_labels, traces = _parsed(trace_path, read_trace)
    if (run_dir / "summary.csv").exists():
        summary, source = _parsed(run_dir / "summary.csv", read_summary), "summary.csv"
        for label in trace_labels:  # a label traced but never summarised: recompute it
            if label not in summary:
                summary[label] = summary_from_trace({label: traces[label]})[label]
    else:
        summary, source = summary_from_trace(traces), "trace.csv"
    metrics_path = run_dir / "metrics.csv"
    metrics = _parsed(metrics_path, read_metrics) if metrics_path.exists() else []
    return RunData(
        run_dir=run_dir,
        scenario=scenario,
        labels=_ordered_labels(scenario, trace_labels),
        traces=traces,
        summary=summary,
        summary_source=source,
        metrics=metrics,
    )


@dataclass
class Progress:
    """How far one method got: steps 0..completed were run, of total."""

    label: str
    completed: int | None  # None: the method never traced a step
    total: int | None

    @property
    def missing(self) -> tuple[int, int] | None:
        """(first, last) missing step, or None when the method finished."""
        if self.total is None:
            return None
        if self.completed is None:
            return (0, self.total)
        if self.completed < self.total:
            return (self.completed + 1, self.total)
        return None

    def describe(self) -> str:
        gap = self.missing
        if gap is None:
            return f"{self.label}: complete ({self.total} steps)"
        if self.completed is None:
            return f"{self.label}: not started; steps {gap[0]}-{gap[1]} missing"
        return (
            f"{self.label}: stopped after step {self.completed} of {self.total}; "
            f"steps {gap[0]}-{gap[1]} missing"
        )


def progress(run: RunData) -> list[Progress]:
    """Per method, the last completed step (``run.completed_steps``, else the last traced step)."""
    completed = run.run_info.get("completed_steps") or {}
    declared = _ordered_labels(run.scenario, [])
    every = int((run.scenario.get("trace") or {}).get("every", 1) or 1)
    labels = run.labels + [label for label in declared if label not in run.labels]
    result = []
    for label in labels:
        if isinstance(completed, dict) and label in completed:
            done: int | None = int(completed[label])
            done = None if done < 0 else done  # the engine writes -1 for a method not started
        elif label in run.traces:
            done = int(run.traces[label].steps.max())
            # Without completed_steps, a last traced step within one trace period of the end
            # (or a run flagged not interrupted) means the method finished.
            if run.total_steps is not None and (
                run.run_info.get("interrupted") is False or run.total_steps - done < every
            ):
                done = max(done, run.total_steps)
        else:
            done = None
        result.append(Progress(label, done, run.total_steps))
    return result


def is_interrupted(run: RunData) -> bool:
    """True if scenario.yaml says so or any method stopped short of the scenario's steps."""
    return bool(run.run_info.get("interrupted")) or any(
        p.missing is not None for p in progress(run)
    )
