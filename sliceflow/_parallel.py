"""Methods of a run in parallel worker processes (``jobs > 1``), one method per worker at a time.

Methods never interact, so running them side by side changes no number: each worker rebuilds the
scenario and the (deterministic) clouds, steps its method with the same code as a sequential run,
and streams rows, snapshots and checkpoints to the parent, which keeps the one book of the run and
writes the files. Workers ignore Ctrl-C; the parent stops them and keeps what it received.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import queue as queue_module
import signal
import time
import traceback
from typing import Any

from sliceflow._book import _Book
from sliceflow._scenario_models import Scenario, ScenarioError

SEND_SECONDS = 1.0


def run_parallel(scenario: Scenario, book: _Book, labels: list[str], device: str, jobs: int,
                 on_progress) -> None:  # fmt: skip
    """Run the methods ``labels`` on ``jobs`` worker processes, merging their results into book."""
    context = mp.get_context("spawn")  # fork is unsafe once torch has started its thread pools
    tasks, results = context.Queue(), context.Queue()
    for label in labels:
        saved = book.checkpoints.get(label)
        if saved is not None:
            book.truncate(label, saved["runner"]["step"])
        tasks.put((label, saved))
    workers = [
        context.Process(
            target=_worker,
            args=(scenario.to_dict(), scenario.base_dir, device, tasks, results),
            daemon=True,
        )  # fmt: skip
        for _ in range(min(jobs, len(labels)))
    ]
    for worker in workers:
        tasks.put(None)
        worker.start()
    try:
        _collect(book, results, set(labels), workers, on_progress)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()


def _collect(book: _Book, results, waiting: set[str], workers, on_progress) -> None:
    while waiting:
        try:
            message = results.get(timeout=0.2)
        except queue_module.Empty:
            if not any(w.is_alive() for w in workers):
                raise RuntimeError(
                    f"worker processes ended before methods {sorted(waiting)}"
                ) from None
            continue
        kind, label = message[0], message[1]
        if kind == "progress" and on_progress is not None:
            on_progress(label, *message[2:])
        elif kind == "update":
            _merge(book, label, pickle.loads(message[2]))
            book.flush()
        elif kind == "done":
            waiting.discard(label)
            book.flush(force=True)
        elif kind == "error":
            user_error, text = message[2], message[3]
            raise ScenarioError.verbatim(text) if user_error else RuntimeError(text)


def _merge(book: _Book, label: str, payload: dict[str, Any]) -> None:
    book.rows.extend(payload["rows"])
    book.metric_rows.extend(payload["metric_rows"])
    for index, particles, state in payload["snapshots"]:
        book.particles[label][index] = particles
        book.checkpoints[label] = {"runner": state}
    for name in ("completed", "elapsed", "nonfinite", "diverged_at"):
        getattr(book, name).update(payload[name])


class _WorkerBook(_Book):
    """The book of one worker: instead of writing files it sends what is new to the parent."""

    def __init__(self, *args, results, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.results, self.sent_rows, self.sent_metrics = results, 0, 0
        self.new_snapshots: list[int] = []
        self.last_send = 0.0

    def snapshot(self, runner) -> None:
        super().snapshot(runner)
        self.new_snapshots.append(self.snapshot_steps.index(runner.step))

    def flush(self, force: bool = False) -> None:
        if not force and time.perf_counter() - self.last_send < SEND_SECONDS:
            return
        label = self.label
        payload = {
            "rows": self.rows[self.sent_rows :],
            "metric_rows": self.metric_rows[self.sent_metrics :],
            "snapshots": [
                (i, self.particles[label][i], self.checkpoints[label]["runner"])
                for i in self.new_snapshots
            ],
            "completed": {label: self.completed[label]} if label in self.completed else {},
            "elapsed": {label: self.elapsed.get(label, 0.0)},
            "nonfinite": {label: self.nonfinite.get(label, [])},
            "diverged_at": {label: self.diverged_at.get(label, [])},
        }
        # Plain pickle: torch's queue pickler would share tensors through file descriptors that
        # die with the worker; bytes by value are safe.
        self.results.put(("update", label, pickle.dumps(payload)))
        self.sent_rows, self.sent_metrics = len(self.rows), len(self.metric_rows)
        self.new_snapshots = []
        self.last_send = time.perf_counter()


def _worker(raw: dict, base_dir: str, device: str, tasks, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    from sliceflow import engine
    from sliceflow.scenario import build_scenario

    scenario = build_scenario(raw, base_dir=base_dir)
    device_t = engine._device(device)
    manifold = engine.MANIFOLDS[scenario.manifold.name](scenario.manifold.params)
    x0, y = engine.make_clouds(scenario, manifold, scenario.torch_dtype(), device_t)
    while (task := tasks.get()) is not None:
        label, saved = task
        try:
            _run_one(scenario, manifold, x0, y, device, label, saved, results)
        except ScenarioError as error:
            results.put(("error", label, True, str(error)))
            return
        except Exception:  # a programmer error: loud, with the worker's traceback
            results.put(("error", label, False, f"method {label!r}:\n{traceback.format_exc()}"))
            return


def _run_one(scenario, manifold, x0, y, device, label, saved, results) -> None:
    from sliceflow import engine

    spec = next(m for m in scenario.methods if m.label == label)
    book = _WorkerBook(scenario, None, x0, y, device, results=results)
    book.label = label
    if saved is not None:
        book.checkpoints[label] = saved
    last_progress = [0.0]

    def progress(name: str, step: int, total: int) -> None:
        now = time.perf_counter()
        if now - last_progress[0] > 0.1 or step == total:
            results.put(("progress", name, step, total))
            last_progress[0] = now

    with engine._threads(x0, y):
        runner = engine._method_run(spec, scenario, manifold, x0, y)
        book.start_method(runner)
        engine._run_method(runner, book, scenario, progress)
        book.completed[label] = runner.step
        book._note(runner)
    book.flush(force=True)
    results.put(("done", label))
