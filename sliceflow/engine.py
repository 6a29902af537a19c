"""The one place that moves particles: every method of a scenario, all seeds batched.

``run`` loads a scenario, samples each seed's source and target, steps each method's batch of
particle systems, records exact W2^2 traces and snapshots, and writes the run directory
(atomically, also when interrupted). It knows no method by name: flows come from the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sliceflow._method_run import MethodRun
from sliceflow._scenario_models import Scenario, ScenarioError
from sliceflow.data import make_clouds
from sliceflow.manifolds import MANIFOLDS
from sliceflow.outputs import summary_rows
from sliceflow.scenario import build_scenario, load_scenario

ProgressCallback = Callable[[str, int, int], None]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what was finished is on disk; ``.result`` holds it in memory."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("run interrupted")
        self.result = result


@dataclass
class RunResult:
    """Traces of a run in memory: rows ``(method, seed, step, loss, w2sq, elapsed_s)``."""

    scenario: Scenario
    out_dir: Path | None
    trace: list[tuple] = field(default_factory=list)
    metrics: list[tuple] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)
    particles: dict[str, np.ndarray] = field(default_factory=dict)
    target: np.ndarray | None = None
    completed_steps: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.scenario.methods]

    @property
    def trace_steps(self) -> np.ndarray:
        return np.array(sorted({row[2] for row in self.trace}))

    def _column(self, label: str, index: int) -> np.ndarray:
        rows = [r for r in self.trace if r[0] == label]
        if not rows:
            raise KeyError(f"no trace for method {label!r}; labels: {', '.join(self.labels)}")
        seeds = self.scenario.seeds
        steps = sorted({r[2] for r in rows})
        table = np.full((len(seeds), len(steps)), np.nan)
        seed_pos = {s: i for i, s in enumerate(seeds)}
        step_pos = {s: i for i, s in enumerate(steps)}
        for row in rows:
            table[seed_pos[row[1]], step_pos[row[2]]] = row[index]
        return table

    def w2sq(self, label: str) -> np.ndarray:
        """Exact W2^2, shape (S, K): seeds by traced steps (inf for diverged seeds)."""
        return self._column(label, 4)

    def loss(self, label: str) -> np.ndarray:
        """The flow's own loss, shape (S, K)."""
        return self._column(label, 3)

    def summary(self) -> list[tuple]:
        """Rows ``(method, step, n_seeds, n_diverged, q25, median, q75)`` of log10 W2^2."""
        return summary_rows(self.trace)


def resolve_scenario(scenario, **changes) -> Scenario:
    """A Scenario from a path, a dict or a Scenario (``changes`` = overrides, seeds, steps...)."""
    if isinstance(scenario, Scenario):
        if any(v for v in changes.values()):
            scenario = build_scenario(scenario.to_dict(), base_dir=scenario.base_dir, **changes)
        return scenario
    if isinstance(scenario, dict):
        return build_scenario(scenario, **changes)
    return load_scenario(scenario, **changes)


def run(
    scenario: str | Path | dict | Scenario,
    *,
    out: str | Path | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    methods: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    resume: bool = False,
    write: bool = True,
    render: bool = True,
    render_options: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    jobs: int = 1,
) -> RunResult:
    """Run every method of a scenario over all its seeds and return the traces.

    Parameters
    ----------
    scenario : path to a YAML file, a dict with the same content, or a ``Scenario``.
    out : run directory (default: the scenario's ``output.dir``, else ``runs/<name>``).
    seeds, steps, methods, overrides : the CLI's ``--seeds``, ``--steps``, ``--methods``, ``--set``.
    device : ``"cpu"`` or ``"cuda"``; tensors and models live there (exact traces on the CPU).
    resume : continue an interrupted run in ``out`` from its last snapshot (bit for bit).
    write, render : write the run directory; then render figures, GIFs and reports.
    on_progress : called as ``on_progress(label, steps_done, steps_total)`` after each step.
    jobs : methods run side by side in this many worker processes (CPU only); the numbers are
        the same as with ``jobs=1``, only the wall time changes.

    Raises
    ------
    ScenarioError : bad input (one-line message). RunInterrupted : Ctrl-C (outputs are saved).
    """
    scenario = resolve_scenario(
        scenario, overrides=overrides, seeds=seeds, steps=steps, methods=methods
    )
    out_dir = Path(out or scenario.output.dir or Path("runs") / scenario.name) if write else None
    device_t = _device(device)
    manifold = MANIFOLDS[scenario.manifold.name](scenario.manifold.params)
    x0, y = make_clouds(scenario, manifold, scenario.torch_dtype(), device_t)
    book = _Book(scenario, out_dir, x0, y, device)
    if resume:
        book.restore()
    pending = [m for m in scenario.methods if book.completed.get(m.label) != scenario.steps]
    try:
        if jobs > 1 and len(pending) > 1 and device_t.type == "cpu":
            from sliceflow._parallel import run_parallel

            with _threads(x0, y):  # longest first: the last method to finish sets the wall time
                pending.sort(key=lambda spec: -_step_cost(spec, scenario, manifold, x0, y))
            labels = [m.label for m in pending]
            run_parallel(scenario, book, labels, device, jobs, on_progress)
        else:
            with _threads(x0, y):
                for spec in pending:
                    runner = _method_run(spec, scenario, manifold, x0, y)
                    book.start_method(runner)
                    _run_method(runner, book, scenario, on_progress)
                    book.finish_method(runner)
    except KeyboardInterrupt:
        book.interrupted = True
        book.flush(force=True)
        raise RunInterrupted(book.result()) from None
    book.flush(force=True)
    result = book.result()
    if write and render:
        from sliceflow.report import render_run

        render_run(out_dir, **(render_options or {}))
    return result


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda"):
        raise ScenarioError(f"--device {name!r}: use cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ScenarioError("--device cuda: no CUDA device is available here; use --device cpu")
    return torch.device(name)


def _method_run(spec, scenario: Scenario, manifold, x0, y) -> MethodRun:
    try:
        return MethodRun(spec, scenario.seeds, manifold, x0, y, scenario.steps)
    except ValueError as error:  # a flow rejecting its parameters for this data
        where = ("methods", scenario.methods.index(spec))
        raise ScenarioError(str(error), source=scenario.name, path=where) from None


def _step_cost(spec, scenario: Scenario, manifold, x0, y) -> float:
    """Seconds of one flow step of a method, measured on a throwaway copy (changes no result)."""
    probe = _method_run(spec, scenario, manifold, x0, y)
    probe.advance(want_loss=False)  # warm-up: first calls allocate
    start = time.perf_counter()
    probe.advance(want_loss=False)
    return time.perf_counter() - start


@contextmanager
def _threads(x0: torch.Tensor, y: torch.Tensor):
    """One intra-op thread for small clouds.

    Tensors of a few thousand numbers gain nothing from threads, and on a loaded 2-core machine
    the threads' spin-waits make each op 10x slower (measured: 2.2 ms vs 34 ms per SWD step).
    """
    S, n, d = x0.shape
    small = S * n * max(n, y.shape[1], d) <= 2_000_000
    before = torch.get_num_threads()
    if small and x0.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_method(runner: MethodRun, book: _Book, scenario: Scenario, on_progress) -> None:
    snapshots = set(book.snapshot_steps)
    every, last = scenario.trace.every, scenario.steps
    while True:
        step = runner.step
        if step in snapshots:
            book.snapshot(runner)
        traced = step % every == 0 or step == last
        measured = book.measure(runner) if traced else None  # exact W2^2 of x_step
        loss = runner.advance(want_loss=traced)
        if traced:
            book.record(runner, step, loss, measured)
        if on_progress is not None:
            on_progress(runner.label, step, last)
        if step == last:
            return
        book.flush()


from sliceflow._book import _Book  # noqa: E402  (the book-keeping half of the engine)

__all__ = ["RunInterrupted", "RunResult", "resolve_scenario", "run"]
