"""What a run returns in memory, and the exception Ctrl-C becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sliceflow.rundir import TraceSchema, summary_rows


@dataclass
class RunResult:
    """Traces of a run in memory: rows ``(method, seed, step, *schema.values, elapsed_s)``."""

    scenario: Any
    schema: TraceSchema
    out_dir: Path | None
    trace: list[tuple] = field(default_factory=list)
    metrics: list[tuple] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)
    particles: dict[str, np.ndarray] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, list[tuple]] = field(default_factory=dict)  # the task's extra tables
    completed_steps: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.scenario.methods]

    @property
    def target(self) -> np.ndarray | None:
        return self.arrays.get("target")

    @property
    def trace_steps(self) -> np.ndarray:
        return np.array(sorted({row[2] for row in self.trace}))

    def values(self, label: str, column: str) -> np.ndarray:
        """One trace column of one method, shape (S, K): seeds by traced steps."""
        if column not in self.schema.values:
            raise KeyError(f"no column {column!r}; columns: {', '.join(self.schema.values)}")
        rows = [r for r in self.trace if r[0] == label]
        if not rows:
            raise KeyError(f"no trace for method {label!r}; labels: {', '.join(self.labels)}")
        index = self.schema.columns.index(column)
        seeds = self.scenario.seeds
        steps = sorted({r[2] for r in rows})
        table = np.full((len(seeds), len(steps)), np.nan)
        seed_pos = {s: i for i, s in enumerate(seeds)}
        step_pos = {s: i for i, s in enumerate(steps)}
        for row in rows:
            table[seed_pos[row[1]], step_pos[row[2]]] = row[index]
        return table

    def w2sq(self, label: str) -> np.ndarray:
        """The traced distance (``schema.primary``, exact W2^2 for flows), shape (S, K)."""
        return self.values(label, self.schema.primary)

    def loss(self, label: str) -> np.ndarray:
        """The flow's own loss, shape (S, K)."""
        return self.values(label, "loss")

    def summary(self) -> list[tuple]:
        """Rows ``(method, step, n_seeds, n_diverged, q25, median, q75)`` of log10 of the
        primary column."""
        return summary_rows(self.trace, self.schema)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what was finished is on disk; ``.result`` holds it in memory."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("run interrupted")
        self.result = result
