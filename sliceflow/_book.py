"""Book-keeping of a run: trace rows, snapshots, checkpoints and the files of the run directory."""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sliceflow._method_run import MethodRun
from sliceflow._scenario_models import Scenario, ScenarioError
from sliceflow.outputs import (
    METRIC_COLUMNS,
    SUMMARY_COLUMNS,
    TRACE_COLUMNS,
    summary_rows,
    write_csv,
    write_npz,
    write_torch,
    write_yaml,
)

FLUSH_SECONDS = 10.0
CHECKPOINT = "checkpoint.pt"


def versions() -> dict[str, str]:
    import geoopt
    import ot
    import sklearn

    import sliceflow

    return {
        "sliceflow": sliceflow.__version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "geoopt": str(getattr(geoopt, "__version__", "?")),
        "pot": str(ot.__version__),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


class _Book:
    """Everything a run has computed so far, and how to write it (atomically) or restore it."""

    def __init__(self, scenario: Scenario, out_dir: Path | None, x0, y, device: str) -> None:
        self.scenario, self.out_dir, self.device = scenario, out_dir, device
        self.snapshot_steps = scenario.snapshot_steps()
        self.rows: list[tuple] = []
        self.metric_rows: list[tuple] = []
        S, n, d = x0.shape
        K = len(self.snapshot_steps)
        self.particles = {
            m.label: np.full((K, S, n, d), np.nan, dtype=_np_dtype(x0)) for m in scenario.methods
        }
        self.target = y.detach().cpu().numpy()
        self.completed: dict[str, int] = {}
        self.elapsed: dict[str, float] = {}
        self.nonfinite: dict[str, list[int]] = {}
        self.diverged_at: dict[str, list[int]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.interrupted = False
        self.started = datetime.now(timezone.utc)
        self.wall_start = time.perf_counter()
        self.last_flush = time.perf_counter()
        self.flush_cost = 0.0

    # -- during a method -----------------------------------------------------------------------
    def start_method(self, runner: MethodRun) -> None:
        saved = self.checkpoints.get(runner.label)
        if saved is not None:  # resume: continue from the last snapshot of this method
            runner.load_state_dict(saved["runner"])
            self.truncate(runner.label, runner.step)

    def truncate(self, label: str, step: int) -> None:
        """Forget the rows of ``label`` from ``step`` on (they are recomputed on resume)."""
        self.rows = [r for r in self.rows if r[0] != label or r[2] < step]
        self.metric_rows = [r for r in self.metric_rows if r[0] != label or r[2] < step]

    def snapshot(self, runner: MethodRun) -> None:
        index = self.snapshot_steps.index(runner.step)
        self.particles[runner.label][index] = runner.x.detach().cpu().numpy()
        self.checkpoints[runner.label] = {"runner": runner.state_dict()}
        self._note(runner)

    def measure(self, runner: MethodRun) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return runner.exact_trace(self.scenario.trace.solver), runner.extra_metrics()

    def record(self, runner: MethodRun, step: int, loss, measured) -> None:
        w2sq, extra = measured
        label, seeds = runner.label, self.scenario.seeds
        elapsed = runner.elapsed
        for i, seed in enumerate(seeds):
            self.rows.append((label, seed, step, float(loss[i]), float(w2sq[i]), elapsed))
            for name, values in extra.items():
                self.metric_rows.append((label, seed, step, name, float(values[i])))
        self.completed[label] = step
        self._note(runner)

    def finish_method(self, runner: MethodRun) -> None:
        self.completed[runner.label] = runner.step
        self._note(runner)
        self.flush(force=True)

    def _note(self, runner: MethodRun) -> None:
        self.elapsed[runner.label] = runner.elapsed
        self.nonfinite[runner.label] = runner.nonfinite.tolist()
        self.diverged_at[runner.label] = runner.diverged_at.tolist()

    # -- files ---------------------------------------------------------------------------------
    def flush(self, force: bool = False) -> None:
        """Write every file (at most every FLUSH_SECONDS, or 20x a write's cost, unless forced)."""
        if self.out_dir is None:
            return
        now = time.perf_counter()
        if not force and now - self.last_flush < max(FLUSH_SECONDS, 20 * self.flush_cost):
            return  # writing costs at most ~5% of the run
        out = self.out_dir
        write_csv(out / "trace.csv", TRACE_COLUMNS, self.rows)
        write_csv(out / "summary.csv", SUMMARY_COLUMNS, summary_rows(self.rows))
        if self.metric_rows:
            write_csv(out / "metrics.csv", METRIC_COLUMNS, self.metric_rows)
        arrays = {"steps": np.array(self.snapshot_steps), "seeds": np.array(self.scenario.seeds)}
        arrays.update(self.particles)
        arrays["target"] = self.target
        write_npz(out / "particles.npz", arrays)
        write_yaml(out / "scenario.yaml", self.resolved())
        write_torch(out / CHECKPOINT, self.checkpoint())
        self.last_flush = time.perf_counter()
        self.flush_cost = self.last_flush - now

    def resolved(self) -> dict[str, Any]:
        data = self.scenario.to_dict()
        steps = self.scenario.steps
        done = {m.label: self.completed.get(m.label, -1) for m in self.scenario.methods}
        data["run"] = {
            "manifold": self.scenario.manifold.name,
            "device": self.device,
            "started": self.started.isoformat(timespec="seconds"),
            "wall_s": round(time.perf_counter() - self.wall_start, 3),
            "interrupted": self.interrupted or any(v < steps for v in done.values()),
            "completed_steps": done,
            "elapsed_s": {k: round(v, 4) for k, v in self.elapsed.items()},
            "ms_per_step": {
                k: round(1000 * v / max(done[k], 1), 4) for k, v in self.elapsed.items()
            },
            "nonfinite_particles": self.nonfinite,
            "diverged_at_step": self.diverged_at,
            "versions": versions(),
        }
        return data

    def checkpoint(self) -> dict[str, Any]:
        identity = {k: v for k, v in self.scenario.to_dict().items() if k != "output"}
        return {
            "scenario": identity,
            "rows": self.rows,
            "metric_rows": self.metric_rows,
            "particles": self.particles,
            "completed": self.completed,
            "elapsed": self.elapsed,
            "checkpoints": self.checkpoints,
        }

    def restore(self) -> None:
        path = (self.out_dir or Path(".")) / CHECKPOINT
        if not path.is_file():
            raise ScenarioError(
                f"--resume: no {CHECKPOINT} in {str(path.parent)!r}; run without "
                "--resume or point --out at an interrupted run"
            )
        saved = torch.load(path, weights_only=False)
        identity = {k: v for k, v in self.scenario.to_dict().items() if k != "output"}
        if saved["scenario"] != identity:
            raise ScenarioError(
                f"--resume: {str(path.parent)!r} was run with a different scenario;"
                " run without --resume or choose another --out"
            )
        self.rows, self.metric_rows = saved["rows"], saved["metric_rows"]
        self.particles, self.completed = saved["particles"], saved["completed"]
        self.elapsed, self.checkpoints = saved["elapsed"], saved["checkpoints"]

    def result(self):
        from sliceflow.engine import RunResult

        return RunResult(
            scenario=self.scenario,
            out_dir=self.out_dir,
            trace=list(self.rows),
            metrics=list(self.metric_rows),
            snapshot_steps=list(self.snapshot_steps),
            particles=dict(self.particles),
            target=self.target,
            completed_steps=dict(self.completed),
            interrupted=self.interrupted,
            info=self.resolved()["run"],
        )


def _np_dtype(x: torch.Tensor):
    return np.float64 if x.dtype == torch.float64 else np.float32
