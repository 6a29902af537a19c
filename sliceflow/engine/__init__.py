"""The engine: the loop over steps of every method of a run (seeds batched), its book
(checkpoints, ``--resume``, Ctrl-C), worker processes, and the run directory it writes."""

from __future__ import annotations

from sliceflow.engine.result import RunInterrupted, RunResult
from sliceflow.engine.run import resolve_scenario, run

__all__ = ["RunInterrupted", "RunResult", "resolve_scenario", "run"]
