"""The loop over the steps of one method, and the resources it runs with (device, threads,
signals while files are written, worker processes that end with their parent)."""

from __future__ import annotations

import ctypes
import functools
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import torch

from sliceflow.errors import ScenarioError
from sliceflow.ot.policy import torch_threads
from sliceflow.tasks.base import Stepper, Task

ProgressCallback = Callable[..., None]  # (label, step, total, note: str = "")


def torch_device(name: str) -> torch.device:
    """``cpu`` or ``cuda`` as a torch device; ScenarioError if it is unknown or unavailable."""
    if name not in ("cpu", "cuda"):
        raise ScenarioError(f"--device {name!r}: use cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ScenarioError("--device cuda: no CUDA device is available here; use --device cpu")
    return torch.device(name)


@contextmanager
def threads(task: Task):
    """The run's intra-op torch threads, as the size policy decides from the task's sizes
    (:func:`sliceflow.ot.policy.torch_threads`): one thread on the CPU while its tensors are tiny
    (``Task.small``) or its clouds take the chunked path (``Task.large``). The engine owns the
    process: the maths never sets a thread count."""
    before = torch.get_num_threads()
    count = torch_threads(task.device, tiny=task.small(), large=task.large())
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse (once per process; True if done).

    By default glibc gives the top of its heap back to the system as soon as a little of it is
    free, so a step that allocates and frees a few megabytes of buffers (e.g. a DGSWP plan step:
    about 15 MB) faults fresh pages in, one per 4 KB, at every step: 2 ms of a 23 ms step,
    measured. Keeping up to 1 GB of freed heap (``M_TRIM_THRESHOLD``) with 64 MB of headroom
    (``M_TOP_PAD``) reuses those pages. The cost: the resident size no longer shrinks after a
    peak, up to that 1 GB.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad = -1, -2
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_top_pad, 64 << 20))


@contextmanager
def held_signals() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM back while the files of a run are written, then deliver them.

    A second Ctrl-C (or a SIGTERM) arriving while the run folder is written waits until every
    file is complete; it then takes effect as it would have (``KeyboardInterrupt``, or the end of
    the process for an unhandled SIGTERM). Yields the signals held so far. Only the main thread
    receives signals: elsewhere this does nothing.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    ignored = (signal.SIG_IGN, None)  # None: a handler not set from Python, left alone
    wanted = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) not in ignored]
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in wanted}
    try:
        yield held
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)


def die_with_parent(parent: int, signum: int) -> None:
    """Have this worker process receive ``signum`` when its parent ends (Linux), and end now if
    the parent ``parent`` is already gone.

    Elsewhere the workers check ``os.getppid()`` themselves between steps.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signum), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def run_stepper(stepper: Stepper, book, task: Task, on_progress: ProgressCallback | None) -> None:
    """Advance ``stepper`` to its last step: snapshots, traced values, progress, flushes."""
    keep_freed_memory()
    snapshots = set(book.snapshot_steps)
    every, last = task.trace_every, stepper.steps
    with_notes = on_progress is not None and takes_note(on_progress)
    while True:
        step = stepper.step
        if step in snapshots:
            book.snapshot(stepper)
        traced = step % every == 0 or step == last
        if traced:  # values of the state before the step (e.g. the exact W2^2 of x_step)
            note = partial(on_progress, stepper.label, step, last) if with_notes else None
            measured, metrics = stepper.measure(note), stepper.metrics()
            tables = stepper.table_rows()
        produced = stepper.advance(want_values=traced)
        if traced:
            book.record(stepper, step, {**produced, **measured}, metrics, tables)
        if on_progress is not None:
            on_progress(stepper.label, step, last)
        if step == last:
            book.final(stepper)
            return
        book.flush()


def takes_note(callback: ProgressCallback) -> bool:
    """True if ``callback(label, step, total, note)`` is a valid call (notes are optional)."""
    try:
        inspect.signature(callback).bind("label", 0, 0, "note")
    except (TypeError, ValueError):
        return False
    return True


def step_seconds(task: Task, label: str) -> float:
    """Seconds of one step of a method, measured on a throwaway stepper (changes no result)."""
    probe = task.stepper(label)
    estimate = probe.seconds_per_step()
    if estimate is not None:
        return estimate
    probe.advance(want_values=False)  # warm-up: first calls allocate
    start = time.perf_counter()
    probe.advance(want_values=False)
    return time.perf_counter() - start
