"""Where the runs of a sweep execute: a process pool on this machine, or Ray tasks.

Every executor runs the same function, :func:`run_unit`, on the same :class:`Unit` (a scenario, a
run folder, a device): one run of a point or of a shard of its seeds, written through the engine's
run directory with one torch thread (one CPU per unit). The numbers are therefore the same, bit
for bit, whatever the executor. A unit whose folder holds a checkpoint continues from it, so a
lost worker or Ctrl-C costs at most the steps since the last snapshot, never a finished point.
A unit locks its run folder while it writes it: a unit still written by a worker of an earlier,
killed driver fails with one line instead of racing it. Local workers end with their driver.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RETRIES = 2  # a unit whose worker died is run again (from its checkpoint) this many times
STOP_SECONDS = 120.0  # after Ctrl-C, how long running units get to write their files


@dataclass(frozen=True)
class Unit:
    """One run: a point of the grid, or one shard of its seeds."""

    key: str  # "<point>" or "<point>/<shard>"
    point: str
    raw: dict[str, Any]  # the resolved scenario (scenario.to_dict()), seeds of this unit
    base_dir: str
    out: str  # absolute path of the run folder
    device: str = "cpu"
    render: dict[str, Any] | None = None  # report options; None: no figures (a shard)


@dataclass
class Outcome:
    key: str
    state: str  # completed | interrupted | failed | lost
    seconds: float = 0.0
    message: str = ""
    user_error: bool = True


Callback = Callable[[Unit, Outcome], None]


def run_unit(unit: Unit, parent: int | None = None) -> Outcome:
    """Run ``unit`` to its last step (continuing from its checkpoint if it has one), then render
    its report; never raises: the outcome says what happened.

    The unit's folder belongs to the sweep: what sliceflow wrote there is replaced when it
    cannot be continued (other files are refused). With ``parent`` (the driver's pid), the run
    stops as after Ctrl-C, its files written, once that process is gone."""
    import torch

    from sliceflow.engine.run import run
    from sliceflow.errors import RunDirError, RunDirWriteError, UserError
    from sliceflow.rundir import CHECKPOINT_FILE, FolderLocked
    from sliceflow.scenario import build_scenario

    start, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # one CPU per unit on every executor: the same bits everywhere
    note = ""
    try:
        scenario = build_scenario(unit.raw, base_dir=unit.base_dir)
        out = Path(unit.out)
        options = {"out": out, "render": False, "device": unit.device, "jobs": 1}
        if parent is not None:
            options["on_progress"] = _watch(parent)
        resume = (out / CHECKPOINT_FILE).is_file()
        try:
            run(scenario, resume=resume, overwrite=not resume, **options)
        except FolderLocked:
            raise
        except RunDirError as error:
            if not resume or isinstance(error, RunDirWriteError):  # a full disk: keep what is saved
                raise
            # an unreadable checkpoint, or one of another scenario: start it over
            run(scenario, resume=False, overwrite=True, **options)
        if unit.render is not None:
            note = render_point(out, unit.render)
    except KeyboardInterrupt:  # RunInterrupted too: the run has written what it finished
        return Outcome(unit.key, "interrupted", time.perf_counter() - start)
    except UserError as error:
        return Outcome(unit.key, "failed", time.perf_counter() - start, str(error))
    except Exception:  # a programmer error: loud, with the worker's traceback
        text = f"{unit.key}:\n{traceback.format_exc()}"
        return Outcome(unit.key, "failed", time.perf_counter() - start, text, user_error=False)
    finally:
        torch.set_num_threads(threads)
    return Outcome(unit.key, "completed", time.perf_counter() - start, note)


def _watch(parent: int) -> Callable[[str, int, int], None]:
    """A progress callback that stops the run (as Ctrl-C does) once ``parent`` has ended.

    It takes no ``note``, so the run takes the same path as with no callback at all."""

    def check(label: str, step: int, total: int) -> None:
        if os.getppid() != parent:
            raise KeyboardInterrupt

    return check


def render_point(out: Path, options: dict[str, Any]) -> str:
    """Figures and report of a finished run folder; a failure is returned as a note."""
    from sliceflow.report import render_run

    try:
        render_run(out, **options)
    except Exception as error:  # the data files are complete; a figure failing must not hide them
        return f"report not rendered: {error}"
    return ""


class LocalExecutor:
    """Units on ``workers`` processes of this machine (spawned once, reused).

    Workers sit in their own process group: Ctrl-C reaches the driver only, which forwards one
    interrupt to each busy worker and waits for it to write its files. A worker whose driver
    ends otherwise (SIGKILL) gets the same interrupt from the system (Linux), or notices at its
    next step: it writes its files and ends.
    """

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(self, units: list[Unit], on_done: Callback, on_start: Callable[[Unit], None]) -> None:
        context = mp.get_context("spawn")  # fork is unsafe once torch has started its threads
        outbox = context.Queue()
        pool = _Pool(context, outbox, min(self.workers, len(units)))
        pending, tries = deque(units), {unit.key: 0 for unit in units}
        try:
            while pending or pool.busy:
                while pending and pool.idle():
                    unit = pending.popleft()
                    pool.assign(unit)
                    on_start(unit)
                self._receive(pool, outbox, on_done, timeout=0.2)
                for unit in pool.lost():
                    tries[unit.key] += 1
                    if tries[unit.key] <= RETRIES:
                        pending.appendleft(unit)
                    else:
                        on_done(unit, Outcome(unit.key, "lost", message="its worker died"))
        except KeyboardInterrupt:
            pool.interrupt()
            deadline = time.monotonic() + STOP_SECONDS
            while pool.busy and time.monotonic() < deadline:
                self._receive(pool, outbox, on_done, timeout=0.2)
                for unit in pool.lost():
                    on_done(unit, Outcome(unit.key, "interrupted"))
            raise
        finally:
            pool.close()

    @staticmethod
    def _receive(pool: _Pool, outbox, on_done: Callback, timeout: float) -> None:
        try:
            slot, outcome = outbox.get(timeout=timeout)
        except queue_module.Empty:
            return
        unit = pool.busy.pop(slot)
        on_done(unit, outcome)

    def close(self) -> None:
        pass


@dataclass
class _Pool:
    context: Any
    outbox: Any
    size: int
    busy: dict[int, Unit] = field(default_factory=dict)
    processes: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # slot -> (process, inbox)

    def idle(self) -> bool:
        return len(self.busy) < self.size

    def assign(self, unit: Unit) -> None:
        slot = next(s for s in range(self.size) if s not in self.busy)
        if slot not in self.processes or not self.processes[slot][0].is_alive():
            inbox = self.context.Queue()
            process = self.context.Process(target=_worker, args=(slot, inbox, self.outbox,
                                           os.getpid()), daemon=True)  # fmt: skip
            process.start()
            self.processes[slot] = (process, inbox)
        self.processes[slot][1].put(unit)
        self.busy[slot] = unit

    def lost(self) -> list[Unit]:
        """Units whose worker died (killed, out of memory); their slots are freed."""
        dead = [slot for slot in self.busy if not self.processes[slot][0].is_alive()]
        return [self.busy.pop(slot) for slot in dead]

    def interrupt(self) -> None:
        for slot in self.busy:
            process = self.processes[slot][0]
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)

    def close(self) -> None:
        for process, inbox in self.processes.values():
            if process.is_alive():
                inbox.put(None)
        for process, _ in self.processes.values():
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


def _interrupt_once(signum, frame) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second signal must not cut the flush short
    raise KeyboardInterrupt


def _worker(slot: int, inbox, outbox, parent: int) -> None:
    from sliceflow.engine.loop import die_with_parent

    os.setpgrp()  # the terminal's Ctrl-C goes to the driver, which forwards it once
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent, signal.SIGINT)  # a running unit then writes its files and stops
    while True:
        try:
            unit = inbox.get(timeout=1.0)
        except queue_module.Empty:
            if os.getppid() != parent:  # the driver is gone: do not linger
                return
            continue
        if unit is None:
            return
        signal.signal(signal.SIGINT, _interrupt_once)
        outcome = run_unit(unit, parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        outbox.put((slot, outcome))


__all__ = ["RETRIES", "LocalExecutor", "Outcome", "Unit", "render_point",
           "run_unit"]  # fmt: skip
