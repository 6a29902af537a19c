"""A saved run directory as the reports see it, read through :mod:`sliceflow.rundir` only.

Nothing here recomputes a flow: the report only ever reads what the engine wrote. No matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sliceflow import rundir
from sliceflow.errors import RunDirError
from sliceflow.rundir import DrawingRecord, MethodTrace, SummaryRow, TraceSchema, read_drawing
from sliceflow.rundir.bounded import present
from sliceflow.rundir.readers import read_record
from sliceflow.rundir.record import shown
from sliceflow.rundir.rows import Expected, RowCheck, read_rows
from sliceflow.rundir.traces import (
    TraceFile,
    read_metrics_file,
    read_summary_file,
    read_trace_file,
    summary_from_trace,
)

__all__ = [
    "Progress", "RunData", "RunDirError", "is_interrupted", "load_run", "progress",
    "task_table",
]  # fmt: skip


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
    warnings: list[str] = field(default_factory=list)  # a line per kind of damage read past

    @property
    def name(self) -> str:
        return str(self.scenario.get("name") or self.run_dir.name)

    @property
    def run_info(self) -> dict[str, Any]:
        run = self.scenario.get("run")
        return run if isinstance(run, dict) else {}

    @property
    def task(self) -> str:
        """The kind of run (``flow`` for runs that do not say)."""
        return str(self.run_info.get("task") or self.scenario.get("task") or "flow")

    @property
    def schema(self) -> TraceSchema:
        """What trace.csv holds, as the run recorded it (older runs: the particle-flow schema)."""
        recorded = self.run_info.get("trace")
        if recorded is not None:
            return TraceSchema.from_dict(recorded)
        return TraceSchema(description=f"exact {self.drawing['distance']}")

    @property
    def quantity(self) -> str:
        """Plain-text name of the summarised value, e.g. ``log10 exact W2^2``."""
        return f"log10 {self.schema.description}"

    @property
    def drawing(self) -> DrawingRecord:
        """How the run's space is drawn, as its manifold said (boundary, view, distance name)."""
        recorded = self.run_info.get("drawing")
        return read_drawing(recorded) if recorded is not None else _ask_manifold(self.scenario)

    @property
    def total_steps(self) -> int | None:
        return _whole(self.scenario.get("steps"))

    def n_seeds(self, label: str) -> int:
        return int(np.unique(self.traces[label].seeds).size) if label in self.traces else 0

    def particles_path(self) -> Path:
        return self.run_dir / rundir.PARTICLES_FILE


def _declared(scenario: dict[str, Any]) -> list[str]:
    """The method labels the scenario declares, in its order."""
    entries = scenario.get("methods")
    return [str(entry.get("label") or entry.get("method"))
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict)]  # fmt: skip


def _ordered_labels(scenario: dict[str, Any], trace_labels: list[str]) -> list[str]:
    """Scenario order of the methods that have a trace, then any other traced label."""
    ordered = [label for label in _declared(scenario) if label in trace_labels]
    return ordered + [label for label in trace_labels if label not in ordered]


def _expected(scenario: dict[str, Any]) -> Expected:
    """The methods, seeds and steps scenario.yaml allows in the tables (None: not recorded)."""
    seeds = scenario.get("seeds")
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    return Expected(
        labels=frozenset(_declared(scenario))
        if isinstance(scenario.get("methods"), list)
        else None,
        seeds=frozenset(seeds) if seeds is not None else None,
        steps=_whole(scenario.get("steps")),
    )


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; raise RunDirError (one line: problem and fix) on bad input.

    Damaged rows of its tables are dropped, each kind of damage a line of ``RunData.warnings``
    (a damaged summary.csv is recomputed from trace.csv).
    """
    run_dir = Path(run_dir)
    hint = "pass the --out directory of a `sliceflow run`"
    if not run_dir.exists():
        raise RunDirError(f"{run_dir}: no such directory; {hint}")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory; {hint}")
    trace_path = run_dir / rundir.TRACE_FILE
    if not present(trace_path):
        raise RunDirError(
            f"{run_dir}: no {rundir.TRACE_FILE}, so not a run directory; {hint} (or run the "
            "scenario first)"
        )
    scenario = read_record(run_dir / rundir.SCENARIO_FILE)
    expect = _expected(scenario)
    schema = TraceSchema.from_dict((scenario.get("run") or {}).get("trace"))
    found = read_trace_file(trace_path, schema, expect)
    warnings = list(found.warnings)
    summary, source = _summary(run_dir, found, expect, warnings)
    metrics_path = run_dir / rundir.METRICS_FILE
    metrics: list[dict[str, Any]] = []
    if present(metrics_path):
        metrics, problems = read_metrics_file(metrics_path, expect)
        warnings += problems
    run = RunData(
        run_dir=run_dir,
        scenario=scenario,
        labels=_ordered_labels(scenario, found.labels),
        traces=found.traces,
        summary=summary,
        summary_source=source,
        metrics=metrics,
        warnings=warnings,
    )
    run.warnings += _gaps(run, trace_path)
    return run


def _summary(run_dir: Path, found: TraceFile, expect: Expected, warnings: list[str]
             ) -> tuple[dict[str, list[SummaryRow]], str]:  # fmt: skip
    """summary.csv (a label it lacks recomputed from the trace), or the trace's summary if
    summary.csv is absent or damaged; its damage appended to ``warnings``."""
    path = run_dir / rundir.SUMMARY_FILE
    if not present(path):
        return summary_from_trace(found.traces), rundir.TRACE_FILE
    summary, problems = read_summary_file(path, expect)
    if problems:
        warnings += problems
        warnings.append(f"{path}: damaged, so the summary was recomputed from {rundir.TRACE_FILE}")
        return summary_from_trace(found.traces), rundir.TRACE_FILE
    for label in found.labels:  # a label traced but never summarised: recompute it
        if label not in summary:
            summary[label] = summary_from_trace({label: found.traces[label]})[label]
    return summary, rundir.SUMMARY_FILE


def _gaps(run: RunData, trace_path: Path) -> list[str]:
    """A line per method whose trace stops a trace period or more before the step
    scenario.yaml says it completed (rows missing from trace.csv)."""
    trace = run.scenario.get("trace")
    every = _whole(trace.get("every")) if isinstance(trace, dict) else None
    completed = run.run_info.get("completed_steps") or {}
    lines = []
    for label in run.labels:
        done = completed.get(label)
        if every is None or done is None or label not in run.traces:
            continue
        last = int(run.traces[label].steps.max())
        if last + every <= done:
            lines.append(f"{trace_path}: method {shown(label)} is traced up to step {last}, "
                         f"but scenario.yaml says it completed step {done}: rows are "
                         "missing")  # fmt: skip
    return lines


def task_table(run: RunData, name: str, fields: list[tuple[str, str]], n_key: int,
               check: RowCheck | None = None) -> list[tuple] | None:  # fmt: skip
    """A task's own table in the run folder (None if absent), typed and checked as the run's
    tables are (:func:`sliceflow.rundir.rows.read_rows`: fields, key, row check); a damaged row
    is a one-line RunDirError, so the table is drawn whole or not at all."""
    path = run.run_dir / name
    if not present(path):
        return None
    rows, damage = read_rows(path, fields, n_key, _expected(run.scenario), check)
    damage.check()
    return rows


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
    declared = _declared(run.scenario)
    trace = run.scenario.get("trace")
    every = max(_whole(trace.get("every")) or 1, 1) if isinstance(trace, dict) else 1
    labels = run.labels + [label for label in declared if label not in run.labels]
    result = []
    for label in labels:
        if isinstance(completed, dict) and _whole(completed.get(label)) is not None:
            done: int | None = _whole(completed[label])
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


def _whole(value: Any) -> int | None:
    """An integer read from scenario.yaml, or None if it is absent or not a whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value == value and abs(value) < 2**62 and value == int(value) else None


def _ask_manifold(scenario: dict[str, Any]) -> DrawingRecord:
    """The drawing of a run that did not record one (older runs): ask its manifold."""
    spec = scenario.get("manifold")
    spec = {"name": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict):
        return read_drawing(None)
    from sliceflow.manifolds import MANIFOLDS

    cls = MANIFOLDS.get(spec.get("name"))
    try:
        params = {k: v for k, v in spec.items() if k != "name"}
        return read_drawing(
            cls(cls.Config.model_validate(params)).drawing().to_dict() if cls else None
        )
    except ValueError:
        return read_drawing(None)
