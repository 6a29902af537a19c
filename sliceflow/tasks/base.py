"""The contract between a kind of run (a task) and the engine.

A ``Task`` is built once per run from its validated scenario: it prepares what all methods share
(e.g. the per-seed clouds) and hands the engine one ``Stepper`` per method. The engine never
knows a task or a method by name; at every step it calls, in this order::

    if step in task.snapshot_steps(): book keeps stepper.snapshot() and stepper.state_dict()
    if traced (step % task.trace_every == 0 or last step):
        measured = stepper.measure(); metrics = stepper.metrics()     # of the current state
        rows of the task's extra tables: stepper.table_rows() (filed under this step)
    produced = stepper.advance(want_values=traced)                     # one step (none at last)
    trace rows: method, seed, step, *(produced | measured)[schema.values], elapsed_s

Everything a stepper keeps must survive ``state_dict`` / ``load_state_dict`` so that
``--resume`` continues bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from sliceflow.errors import ScenarioError
from sliceflow.rundir import TraceSchema


class Stepper:
    """One method of a run: all its seeds batched, advanced one step at a time by the engine."""

    label: str = ""
    steps: int = 0  # the last step
    step: int = 0  # the next step to run
    elapsed: float = 0.0  # compute seconds so far (traces excluded)

    def advance(self, want_values: bool) -> dict[str, np.ndarray]:
        """Run step ``self.step`` (and move to the next, except at the last step); return the
        per-seed values (S,) this step produced (e.g. its loss) when ``want_values``."""
        raise NotImplementedError

    def measure(self, note: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
        """Per-seed values (S,) of the current state for the trace (e.g. exact W2^2);
        ``note(text)`` shows the progress of a slow measurement next to the progress bar."""
        return {}

    def metrics(self) -> dict[str, np.ndarray]:
        """Extra per-seed diagnostics (name -> (S,)) recorded in metrics.csv."""
        return {}

    def table_rows(self) -> dict[str, list[tuple]]:
        """Rows for the task's extra tables (``Task.tables``), each ``(method, seed, ...)`` in
        the table's columns, produced at a traced step (called after ``measure``). The engine
        files each row under that step (order of the file, rows dropped on ``--resume``), so a
        table need not have a step column."""
        return {}

    def snapshot(self) -> np.ndarray:
        """The state kept at snapshot steps, (S, ...) (e.g. the particles)."""
        raise NotImplementedError

    def final(self) -> np.ndarray | None:
        """Full-size state of one seed after the last step, kept in final.npz when the
        snapshots are cut down (e.g. a subsample of a million particles); None: nothing."""
        return None

    def info(self) -> dict[str, list]:
        """Per-seed counters reported in scenario.yaml's ``run`` section (name -> list)."""
        return {}

    def seconds_per_step(self) -> float | None:
        """Seconds of a typical step, for ordering methods run in parallel (this stepper is a
        throwaway probe); None: the engine times two steps. Worth giving when the first steps
        are not typical (e.g. a long one-off initialisation)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


class Task:
    """A kind of run: how a scenario becomes steppers, and what its run directory holds."""

    name: ClassVar[str] = ""
    Scenario: ClassVar[type] = object  # the pydantic model of its scenario files
    schema: ClassVar[TraceSchema] = TraceSchema()
    # Extra CSV files of the run directory: file name -> columns (first: method, seed).
    tables: ClassVar[dict[str, tuple[str, ...]]] = {}

    @staticmethod
    def resolve_scenario(data: dict, parser, keep: list[str] | None) -> dict:
        """Validate the task's own keys of a raw scenario (``parser``: one-line errors) and
        return the data for ``Scenario.model_validate``; ``keep``: ``--methods`` labels."""
        data["methods"] = parser.methods(data.get("methods"), _no_methods, keep)
        return data

    def __init__(self, scenario, device: torch.device) -> None:
        self.scenario, self.device = scenario, device

    # -- what the engine asks ----------------------------------------------------------------
    def stepper(self, label: str) -> Stepper:
        """The stepper of method ``label``: a method that rejects its parameters for this data
        (ValueError) is a one-line ScenarioError pointing at its entry in ``methods``."""
        spec = next(m for m in self.scenario.methods if m.label == label)
        try:
            return self.build_stepper(spec)
        except ValueError as error:
            where = ("methods", self.scenario.methods.index(spec))
            raise ScenarioError(str(error), source=self.scenario.name, path=where) from None

    def build_stepper(self, spec) -> Stepper:
        """The stepper of one ``methods`` entry (all seeds batched)."""
        raise NotImplementedError

    @property
    def trace_every(self) -> int:
        trace = getattr(self.scenario, "trace", None)
        return trace.every if trace is not None else 1

    def snapshot_steps(self) -> list[int]:
        snapshots = getattr(self.scenario, "snapshots", None)
        if snapshots is None:
            return [0, self.scenario.steps]
        return snapshots.select(self.scenario.steps)

    def snapshot_shape(self) -> tuple[tuple[int, ...], np.dtype]:
        """Shape (S, ...) and dtype of one ``Stepper.snapshot()`` (a snapshot not yet taken is
        NaN for a float dtype, -1 for an integer one)."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays written once into particles.npz beside the snapshots (e.g. the targets)."""
        return {}

    def final_arrays(self) -> dict[str, np.ndarray]:
        """Arrays written once into final.npz beside the steppers' ``final()`` (none: no file)."""
        return {}

    def run_info(self) -> dict[str, Any]:
        """Facts for scenario.yaml's ``run`` section that the reports read (e.g. the drawing)."""
        return {}

    def small(self) -> bool:
        """True if a step's tensors are tiny (``sliceflow.ot.policy.is_tiny``): the engine then
        runs torch on one thread (on the CPU)."""
        return False

    def large(self) -> bool:
        """True if the clouds take the maths' chunked path (``sliceflow.ot.policy.is_large``):
        the engine then runs torch on one thread (on the CPU)."""
        return False

    @classmethod
    def catalogue(cls) -> list[tuple[str, Mapping[str, Any]]]:
        """The registries of what this task's scenarios name, as ``(title, registry)`` for
        ``sliceflow list`` (e.g. ``[("methods", PLAN_METHODS)]``); the shared ones (datasets,
        manifolds) are listed on their own."""
        return []

    @classmethod
    def check_budget(cls, scenario) -> None:
        """ScenarioError if the run is predicted to be unreasonably slow (e.g. exact traces of
        large clouds); ``sliceflow run/validate --force`` skip it."""

    @classmethod
    def check(cls, scenario) -> None:
        """Everything ``sliceflow validate`` can check beyond the file (data files, shapes, each
        method's parameters for this data): build the first seed's data and every method's
        stepper; raise ScenarioError on a problem."""
        first = scenario.model_copy(update={"seeds": scenario.seeds[:1]})
        task = cls(first, torch.device("cpu"))
        for label in first.labels:
            task.stepper(label)


def _no_methods(name: str):
    raise ValueError(f"this task has no method {name!r}")


def cpu_clone(value: Any) -> Any:
    """Deep copy of a state dict with tensors cloned to the CPU (never aliases of live
    parameters), for checkpoints."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: cpu_clone(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(cpu_clone(v) for v in value)
    return value
