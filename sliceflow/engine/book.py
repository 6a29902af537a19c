"""The book of a run: trace rows, snapshots, checkpoints, and the files of its run directory.

It works for every kind of run: what a row holds comes from the task's trace schema, what a
snapshot holds from its steppers. Files are written through :mod:`sliceflow.rundir`.
"""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sliceflow import rundir
from sliceflow.engine.result import RunResult
from sliceflow.errors import RunDirError, RunDirWriteError
from sliceflow.rundir.checkpoints import check_checkpoint
from sliceflow.rundir.writers import write_advice
from sliceflow.tasks.base import Stepper, Task

FLUSH_SECONDS = 10.0
CHECKPOINT_FORMAT = "sliceflow-checkpoint"


def versions() -> dict[str, str]:
    import geoopt
    import ot
    import sklearn
    import torch

    from sliceflow._version import package_version

    return {
        "sliceflow": package_version(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "geoopt": str(getattr(geoopt, "__version__", "?")),
        "pot": str(ot.__version__),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def scenario_identity(scenario) -> dict[str, Any]:
    """What must not change between a run and its ``--resume``: all but the output options."""
    return {k: v for k, v in scenario.to_dict().items() if k != "output"}


class RunBook:
    """Everything a run has computed so far, and how to write it (atomically) or restore it."""

    def __init__(self, task: Task, out_dir: Path | None, device: str) -> None:
        self.task, self.scenario, self.out_dir, self.device = task, task.scenario, out_dir, device
        self.labels = list(self.scenario.labels)
        self.snapshot_steps = task.snapshot_steps()
        shape, dtype = task.snapshot_shape()
        K = len(self.snapshot_steps)
        fill = np.nan if np.dtype(dtype).kind in "fc" else -1  # a snapshot not yet taken
        self.particles = {label: np.full((K, *shape), fill, dtype=dtype) for label in self.labels}
        self.arrays = task.arrays()
        self.final_arrays = task.final_arrays()
        self.finals: dict[str, np.ndarray] = {}  # label -> full state of one seed at the end
        self.rows: list[tuple] = []
        self.metric_rows: list[tuple] = []
        # extra tables: (step that produced the row, row) so any columns can follow method, seed
        self.table_rows: dict[str, list[tuple[int, tuple]]] = {name: [] for name in task.tables}
        self.completed: dict[str, int] = {}
        self.elapsed: dict[str, float] = {}
        self.info: dict[str, dict[str, list]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.interrupted = False
        self.saved = False  # a checkpoint of this run is on disk (written, or resumed from)
        self.started = datetime.now(timezone.utc)
        self.wall_start = time.perf_counter()
        self.last_flush = time.perf_counter()
        self.flush_cost = 0.0

    # -- during a method -----------------------------------------------------------------------
    def start(self, stepper: Stepper) -> None:
        """Continue ``stepper`` from its last snapshot when the book holds one (``--resume``)."""
        saved = self.checkpoints.get(stepper.label)
        if saved is not None:
            try:
                stepper.load_state_dict(saved["stepper"])
            except (KeyError, IndexError, TypeError, ValueError, AttributeError,
                    RuntimeError) as error:  # fmt: skip
                # restore() checked the book's structure; what a stepper keeps only it knows
                raise RunDirError(
                    f"--resume: {self.where()}: the saved state of method {stepper.label!r} "
                    f"does not fit it ({type(error).__name__}: {str(error)[:200]}); the file is "
                    "damaged or was written by another sliceflow; run without --resume to start "
                    "over"
                ) from None
            self.truncate(stepper.label, stepper.step)

    def truncate(self, label: str, step: int) -> None:
        """Forget the rows of ``label`` from ``step`` on (they are recomputed on resume)."""

        def keep(rows):
            return [r for r in rows if r[0] != label or r[2] < step]

        def keep_keyed(rows):
            return [(at, r) for at, r in rows if r[0] != label or at < step]

        self.rows, self.metric_rows = keep(self.rows), keep(self.metric_rows)
        self.table_rows = {name: keep_keyed(rows) for name, rows in self.table_rows.items()}

    def snapshot(self, stepper: Stepper) -> None:
        index = self.snapshot_steps.index(stepper.step)
        self.particles[stepper.label][index] = stepper.snapshot()
        self.checkpoints[stepper.label] = {"stepper": stepper.state_dict()}
        self.note(stepper)

    def record(self, stepper: Stepper, step: int, values: dict, metrics: dict,
               tables: dict[str, list[tuple]] | None = None) -> None:  # fmt: skip
        label, schema = stepper.label, self.task.schema
        for i, seed in enumerate(self.scenario.seeds):
            cells = (float(values[c][i]) for c in schema.values)
            self.rows.append((label, seed, step, *cells, stepper.elapsed))
            for name, column in metrics.items():
                self.metric_rows.append((label, seed, step, name, float(column[i])))
        for name, rows in (tables or {}).items():
            self.table_rows[name].extend((step, tuple(row)) for row in rows)
        self.completed[label] = step
        self.note(stepper)

    def final(self, stepper: Stepper) -> None:
        state = stepper.final()
        if state is not None:
            self.finals[stepper.label] = state

    def finish(self, stepper: Stepper) -> None:
        self.completed[stepper.label] = stepper.step
        self.note(stepper)
        self.flush(force=True)

    def note(self, stepper: Stepper) -> None:
        self.elapsed[stepper.label] = stepper.elapsed
        self.info[stepper.label] = stepper.info()

    # -- files ---------------------------------------------------------------------------------
    def flush(self, force: bool = False) -> None:
        """Write every file (at most every FLUSH_SECONDS, or 20x a write's cost, unless forced).

        checkpoint.pt comes first: once it is written, ``--resume`` can rebuild every other
        file, and if it cannot be written the folder keeps the last save whole. A write the
        system refuses (full disk...) is one line saying which files are complete.
        """
        if self.out_dir is None:
            return
        now = time.perf_counter()
        if not force and now - self.last_flush < max(FLUSH_SECONDS, 20 * self.flush_cost):
            return  # writing costs at most ~5% of the run
        written: list[str] = []
        try:
            self.write_files(self.out_dir, written)
        except RunDirWriteError as error:
            raise self.write_failed(error, written) from None
        self.saved = True
        self.last_flush = time.perf_counter()
        self.flush_cost = self.last_flush - now

    def write_files(self, out: Path, written: list[str]) -> None:
        """Write the run folder, checkpoint first, appending each file's name once written."""
        schema = self.task.schema

        def write(name: str, writer, *args) -> None:
            writer(out / name, *args)
            written.append(name)

        write(rundir.CHECKPOINT_FILE, rundir.write_checkpoint, self.checkpoint())
        rows = rundir.ordered_rows(self.rows, self.labels)
        write(rundir.TRACE_FILE, rundir.write_csv, schema.columns, rows)
        write(rundir.SUMMARY_FILE, rundir.write_csv, rundir.SUMMARY_COLUMNS,
              rundir.summary_rows(rows, schema))  # fmt: skip
        if self.metric_rows:
            metric_rows = rundir.ordered_rows(self.metric_rows, self.labels)
            write(rundir.METRICS_FILE, rundir.write_csv, rundir.METRIC_COLUMNS, metric_rows)
        for name, columns in self.task.tables.items():
            rows = rundir.ordered_table_rows(self.table_rows[name], self.labels)
            write(name, rundir.write_csv, columns, rows)
        arrays = {"steps": np.array(self.snapshot_steps), "seeds": np.array(self.scenario.seeds)}
        arrays.update(self.particles)
        arrays.update(self.arrays)
        write(rundir.PARTICLES_FILE, rundir.write_npz, arrays)
        if self.final_arrays:
            write(rundir.FINAL_FILE, rundir.write_npz, {**self.final_arrays, **self.finals})
        write(rundir.SCENARIO_FILE, rundir.write_yaml, self.resolved())

    def write_failed(self, error: RunDirWriteError, written: list[str]) -> RunDirWriteError:
        """``error`` said for a run: which files are complete, and how to continue."""
        fix = write_advice(error.errno)
        if written:
            kept = f"{', '.join(written)} {'is' if len(written) == 1 else 'are'} complete"
            then = f"{kept}: {fix}, then run again with --resume to write the rest"
        elif self.saved:
            then = (f"{self.out_dir} keeps its previous save whole: {fix}, then run again with "
                    "--resume to continue from it")  # fmt: skip
        else:
            then = f"nothing of this run could be saved: {fix}, then run it again"
        message = f"{error.path}: could not be written ({error.reason}); {then}"
        return RunDirWriteError(message, path=error.path, reason=error.reason, errno=error.errno)

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default written out, and the ``run`` section."""
        data = self.scenario.to_dict()
        steps = self.scenario.steps
        done = {label: self.completed.get(label, -1) for label in self.labels}
        data["run"] = {
            "task": self.task.name,
            **self.task.run_info(),
            "trace": self.task.schema.to_dict(),
            "device": self.device,
            "started": self.started.isoformat(timespec="seconds"),
            "wall_s": round(time.perf_counter() - self.wall_start, 3),
            "interrupted": self.interrupted or any(v < steps for v in done.values()),
            "completed_steps": done,
            "elapsed_s": {k: round(v, 4) for k, v in self.elapsed.items()},
            "ms_per_step": {
                k: round(1000 * v / max(done[k], 1), 4) for k, v in self.elapsed.items()
            },
        }
        for label, counters in self.info.items():
            for name, values in counters.items():
                data["run"].setdefault(name, {})[label] = values
        data["run"]["versions"] = versions()
        return data

    def checkpoint(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "scenario": scenario_identity(self.scenario),
            "base_dir": self.scenario.base_dir,
            "rows": self.rows,
            "metric_rows": self.metric_rows,
            "table_rows": self.table_rows,
            "particles": self.particles,
            "completed": self.completed,
            "elapsed": self.elapsed,
            "info": self.info,
            "checkpoints": self.checkpoints,
            "finals": self.finals,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Take over what an interrupted run saved (read by ``rundir.read_checkpoint``)."""
        if saved.get("scenario") != scenario_identity(self.scenario):
            raise RunDirError(
                f"--resume: {self.where()} was written for a different scenario; run without "
                "--resume or choose another --out"
            )
        try:
            check_checkpoint(
                saved, labels=self.labels, seeds=self.scenario.seeds, steps=self.scenario.steps,
                snapshot_steps=self.snapshot_steps, trace_columns=self.task.schema.columns,
                tables=self.task.tables, particles=self.particles,
            )  # fmt: skip
        except ValueError as error:
            raise RunDirError(
                f"--resume: {self.where()} is damaged ({error}); run without --resume to start over"
            ) from None
        self.rows, self.metric_rows = list(saved["rows"]), list(saved["metric_rows"])
        self.table_rows = {name: list(saved["table_rows"][name]) for name in self.task.tables}
        self.particles = {label: saved["particles"][label] for label in self.labels}
        self.completed, self.elapsed = dict(saved["completed"]), dict(saved["elapsed"])
        self.info, self.checkpoints = dict(saved["info"]), dict(saved["checkpoints"])
        self.finals = {k: v for k, v in saved["finals"].items() if k in self.labels}
        self.saved = True

    def where(self) -> str:
        return str((self.out_dir or Path(".")) / rundir.CHECKPOINT_FILE)

    def result(self):
        return RunResult(
            scenario=self.scenario,
            schema=self.task.schema,
            out_dir=self.out_dir,
            trace=rundir.ordered_rows(self.rows, self.labels),
            metrics=list(self.metric_rows),
            snapshot_steps=list(self.snapshot_steps),
            particles=dict(self.particles),
            arrays=dict(self.arrays),
            tables={
                k: rundir.ordered_table_rows(v, self.labels) for k, v in self.table_rows.items()
            },  # fmt: skip
            completed_steps=dict(self.completed),
            interrupted=self.interrupted,
            info=self.resolved()["run"],
        )
