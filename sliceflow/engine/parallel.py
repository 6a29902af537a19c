"""Methods of a run in parallel worker processes (``jobs > 1``), one method per worker at a time.

Methods never interact, so running them side by side changes no number: each worker rebuilds the
scenario and its task (deterministic data), steps its method with the same loop as a sequential
run, and streams rows, snapshots and checkpoints to the parent, which keeps the one book of the
run and writes the files. Workers ignore Ctrl-C; the parent stops them and keeps what it received.
Workers end with their parent, however it ends (even SIGKILL): they write no file.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue as queue_module
import signal
import time
import traceback
from typing import Any

from sliceflow.engine.book import RunBook
from sliceflow.engine.loop import die_with_parent, run_stepper, takes_note, threads, torch_device
from sliceflow.errors import UserError
from sliceflow.tasks.base import Task

SEND_SECONDS = 1.0
PROGRESS_SECONDS = 0.1


def run_parallel(task: Task, book: RunBook, labels: list[str], device: str, jobs: int,
                 on_progress) -> None:  # fmt: skip
    """Run the methods ``labels`` on ``jobs`` worker processes, merging their results into book."""
    context = mp.get_context("spawn")  # fork is unsafe once torch has started its thread pools
    tasks, results = context.Queue(), context.Queue()
    for label in labels:
        saved = book.checkpoints.get(label)
        if saved is not None:
            book.truncate(label, saved["stepper"]["step"])
        tasks.put((label, saved))
    scenario = task.scenario
    workers = [
        context.Process(
            target=_worker,
            args=(scenario.to_dict(), scenario.base_dir, device, tasks, results, os.getpid()),
            daemon=True,
        )  # fmt: skip
        for _ in range(min(jobs, len(labels)))
    ]
    try:
        for worker in workers:
            tasks.put(None)
            worker.start()
        _collect(book, results, set(labels), workers, on_progress)
    finally:  # also on Ctrl-C or SIGTERM: no worker outlives the run
        for worker in (w for w in workers if w.pid is not None):
            if worker.is_alive():
                worker.terminate()
            worker.join()


def _collect(book: RunBook, results, waiting: set[str], workers, on_progress) -> None:
    with_notes = on_progress is not None and takes_note(on_progress)
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
            step, total, note = message[2:]
            on_progress(label, step, total, note) if with_notes else on_progress(label, step, total)
        elif kind == "update":
            _merge(book, label, pickle.loads(message[2]))
            book.flush()
        elif kind == "done":
            waiting.discard(label)
            book.flush(force=True)
        elif kind == "error":
            user_error, text = message[2], message[3]
            raise UserError.verbatim(text) if user_error else RuntimeError(text)


def _merge(book: RunBook, label: str, payload: dict[str, Any]) -> None:
    book.rows.extend(payload["rows"])
    book.metric_rows.extend(payload["metric_rows"])
    for name, rows in payload["table_rows"].items():
        book.table_rows[name].extend(rows)
    for index, snapshot, state in payload["snapshots"]:
        book.particles[label][index] = snapshot
        book.checkpoints[label] = {"stepper": state}
    for name in ("completed", "elapsed", "info", "finals"):
        getattr(book, name).update(payload[name])


class StreamingBook(RunBook):
    """The book of one worker and one method: instead of writing files it sends what is new."""

    def __init__(self, task: Task, label: str, results) -> None:
        super().__init__(task, None, "")
        self.label, self.results = label, results
        self.sent_rows = self.sent_metrics = 0
        self.sent_tables = dict.fromkeys(self.table_rows, 0)
        self.new_snapshots: list[int] = []
        self.last_send = 0.0

    def snapshot(self, stepper) -> None:
        super().snapshot(stepper)
        self.new_snapshots.append(self.snapshot_steps.index(stepper.step))

    def flush(self, force: bool = False) -> None:
        if not force and time.perf_counter() - self.last_send < SEND_SECONDS:
            return
        label = self.label
        payload = {
            "rows": self.rows[self.sent_rows :],
            "metric_rows": self.metric_rows[self.sent_metrics :],
            "table_rows": {k: v[self.sent_tables[k] :] for k, v in self.table_rows.items()},
            "snapshots": [
                (i, self.particles[label][i], self.checkpoints[label]["stepper"])
                for i in self.new_snapshots
            ],
            "completed": {label: self.completed[label]} if label in self.completed else {},
            "elapsed": {label: self.elapsed.get(label, 0.0)},
            "info": {label: self.info.get(label, {})},
            "finals": {k: v for k, v in self.finals.items() if k == label},
        }
        # Plain pickle: torch's queue pickler would share tensors through file descriptors that
        # die with the worker; bytes by value are safe.
        self.results.put(("update", label, pickle.dumps(payload)))
        self.sent_rows, self.sent_metrics = len(self.rows), len(self.metric_rows)
        self.sent_tables = {k: len(v) for k, v in self.table_rows.items()}
        self.new_snapshots = []
        self.last_send = time.perf_counter()


def _worker(raw: dict, base_dir: str, device: str, tasks, results, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    die_with_parent(parent, signal.SIGKILL)  # nothing to save here: the parent has it all
    from sliceflow.scenario import build_scenario
    from sliceflow.tasks import get_task

    try:
        scenario = build_scenario(raw, base_dir=base_dir)
        task = get_task(scenario.task)(scenario, torch_device(device))
    except UserError as error:
        results.put(("error", "", True, str(error)))
        return
    while (item := tasks.get()) is not None:
        label, saved = item
        try:
            _run_one(task, label, saved, results, parent)
        except UserError as error:
            results.put(("error", label, True, str(error)))
            return
        except Exception:  # a programmer error: loud, with the worker's traceback
            results.put(("error", label, False, f"method {label!r}:\n{traceback.format_exc()}"))
            return


def _run_one(task: Task, label: str, saved, results, parent: int) -> None:
    book = StreamingBook(task, label, results)
    if saved is not None:
        book.checkpoints[label] = saved
    last_progress = [0.0]

    def progress(name: str, step: int, total: int, note: str = "") -> None:
        if os.getppid() != parent:  # the parent is gone (where no signal says so): stop
            os._exit(1)
        now = time.perf_counter()
        if now - last_progress[0] > PROGRESS_SECONDS or step == total or note:
            results.put(("progress", name, step, total, note))
            last_progress[0] = now

    with threads(task):
        stepper = task.stepper(label)
        book.start(stepper)
        run_stepper(stepper, book, task, progress)
        book.completed[label] = stepper.step
        book.note(stepper)
    book.flush(force=True)
    results.put(("done", label))
