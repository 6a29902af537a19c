"""Read a saved run directory: trace.csv, summary.csv, metrics.csv, particles.npz, scenario.yaml.

Nothing here recomputes a flow: the report only ever reads what the engine wrote. No matplotlib.
The file readers live in ``_readers``; their public names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sliceflow.report._readers import (
    METRICS_COLUMNS,
    SUMMARY_COLUMNS,
    TRACE_COLUMNS,
    MethodTrace,
    RunDirError,
    SummaryRow,
    _fail,
    _parsed,
    read_csv,
    read_metrics,
    read_scenario,
    read_summary,
    read_trace,
    summary_from_trace,
)

__all__ = [
    "METRICS_COLUMNS",
    "SUMMARY_COLUMNS",
    "TRACE_COLUMNS",
    "MethodTrace",
    "Progress",
    "RunData",
    "RunDirError",
    "SummaryRow",
    "is_interrupted",
    "load_run",
    "progress",
    "read_csv",
    "read_metrics",
    "read_scenario",
    "read_summary",
    "read_trace",
    "summary_from_trace",
]


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
