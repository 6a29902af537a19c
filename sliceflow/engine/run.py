"""Run a scenario: every method of its task, all seeds batched, written to a run directory.

``run`` resolves a scenario, builds its task (e.g. the particle flow: per-seed clouds), claims
its run folder (never one holding other files or another run, unless told to continue or
replace it; locked while written), advances each method's stepper to the last step (in worker
processes with ``jobs > 1``), and writes the run directory atomically, also when interrupted. It
knows no task and no method by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sliceflow import rundir
from sliceflow.engine.book import RunBook
from sliceflow.engine.loop import (
    ProgressCallback,
    held_signals,
    run_stepper,
    step_seconds,
    threads,
    torch_device,
)
from sliceflow.engine.result import RunInterrupted, RunResult
from sliceflow.errors import RunDirError
from sliceflow.scenario import ScenarioBase, build_scenario, load_scenario
from sliceflow.tasks import TASKS, get_task
from sliceflow.tasks.base import Task


def resolve_scenario(scenario, **changes) -> ScenarioBase:
    """A scenario from a path, a dict or a scenario (``changes`` = overrides, seeds, steps...)."""
    if isinstance(scenario, ScenarioBase):
        if any(v for v in changes.values()):
            scenario = build_scenario(scenario.to_dict(), base_dir=scenario.base_dir, **changes)
        return scenario
    if isinstance(scenario, dict):
        return build_scenario(scenario, **changes)
    return load_scenario(scenario, **changes)


def run(
    scenario: str | Path | dict | ScenarioBase,
    *,
    out: str | Path | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    methods: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    device: str = "cpu",
    resume: bool = False,
    overwrite: bool = False,
    write: bool = True,
    render: bool = True,
    render_options: dict[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
    jobs: int = 1,
    force: bool = False,
) -> RunResult:
    """Run every method of a scenario over all its seeds and return the traces.

    Parameters
    ----------
    scenario : path to a YAML file, a dict with the same content, or a validated scenario.
    out : run directory (default: the scenario's ``output.dir``, else ``runs/<name>``). It must
        be empty or missing unless ``resume`` or ``overwrite`` is given; never the current
        folder or one above it.
    seeds, steps, methods, overrides : the CLI's ``--seeds``, ``--steps``, ``--methods``, ``--set``.
    device : ``"cpu"`` or ``"cuda"``; tensors and models live there (exact traces on the CPU).
    resume : continue the interrupted run in ``out`` from its last snapshot (bit for bit); the
        scenario, with the same ``seeds``/``steps``/``methods``/``overrides``, must be the one the
        run was started with (output options may change).
    overwrite : replace the run in ``out``: the files sliceflow wrote there are removed first; a
        folder that also holds other files is refused.
    write, render : write the run directory; then render figures, GIFs and reports.
    on_progress : called as ``on_progress(label, steps_done, steps_total)`` after each step, and
        with a fourth argument ``note`` during a slow measurement (e.g. a large exact trace).
    jobs : methods run side by side in this many worker processes (CPU only); the numbers are
        the same as with ``jobs=1``, only the wall time changes.
    force : run even when the task predicts an unreasonably slow run (e.g. exact traces of
        large clouds: ``Task.check_budget``).

    Raises
    ------
    UserError (ScenarioError, RunDirError) : bad input or run folder, one-line message; a
        folder another process is writing gives ``rundir.FolderLocked``.
    RunInterrupted : Ctrl-C (what was finished is saved).
    """
    changes = {"overrides": overrides, "seeds": seeds, "steps": steps, "methods": methods}
    scenario = resolve_scenario(scenario, **changes)
    if resume and overwrite:
        raise RunDirError("--resume continues the run in --out and --overwrite replaces it; "
                          "give one of them")  # fmt: skip
    out_dir = output_folder(out, scenario) if write else None
    device_t = torch_device(device)
    if not force:
        get_task(scenario.task).check_budget(scenario)
    task = get_task(scenario.task)(scenario, device_t)
    if out_dir is None:
        return _run(task, None, device, resume, jobs, on_progress, None)
    if resume and not out_dir.is_dir():  # say so before creating anything
        rundir.read_checkpoint(out_dir / rundir.CHECKPOINT_FILE)
    lock = rundir.claim_run_folder(out_dir, resume=resume, overwrite=overwrite,
                                   tables=table_names(task))  # fmt: skip
    try:
        reports = (render_options or {}) if render else None
        return _run(task, out_dir, device, resume, jobs, on_progress, reports)
    finally:
        lock.release()


def output_folder(out: str | Path | None, scenario: ScenarioBase) -> Path:
    """The run folder: ``out``, else ``output.dir``, else ``runs/<name>``; one that resolves to
    the current folder or above it is refused (``RunDirError``)."""
    if out is not None:  # Path("") is the current folder: refused
        return rundir.check_output_path(Path(out), "--out")
    if scenario.output.dir:
        return rundir.check_output_path(Path(scenario.output.dir), "output.dir")
    return rundir.check_output_path(Path("runs") / scenario.name, "the default folder")


def table_names(task: Task) -> set[str]:
    """The extra tables of every registered task: files sliceflow writes in a run folder."""
    TASKS.load()
    names = set(task.tables)
    for entry in TASKS.values():
        names.update(getattr(entry, "tables", None) or {})
    return names


def _run(task: Task, out_dir: Path | None, device: str, resume: bool, jobs: int,
         on_progress: ProgressCallback | None, reports: dict[str, Any] | None
         ) -> RunResult:  # fmt: skip
    """The run itself, its folder claimed: restore, advance, write, render (``reports``)."""
    book = RunBook(task, out_dir, device)
    if resume:
        book.restore(rundir.read_checkpoint((out_dir or Path(".")) / rundir.CHECKPOINT_FILE))
    labels = task.scenario.labels
    pending = [label for label in labels if book.completed.get(label) != task.scenario.steps]
    try:
        with threads(task):
            _advance(task, book, pending, device, jobs, on_progress)
    except KeyboardInterrupt:
        book.interrupted = True
        _write(book)
        raise RunInterrupted(book.result()) from None
    if _write(book):  # Ctrl-C while the last files were written: they are complete
        raise RunInterrupted(book.result())
    result = book.result()
    if reports is not None:
        from sliceflow.report import render_run

        try:
            render_run(out_dir, **reports)
        except KeyboardInterrupt:  # the run is complete; `--resume` renders the report
            raise RunInterrupted(result) from None
    return result


def _advance(task: Task, book: RunBook, pending: list[str], device: str, jobs: int,
             on_progress: ProgressCallback | None) -> None:  # fmt: skip
    if jobs > 1 and len(pending) > 1 and task.device.type == "cpu":
        from sliceflow.engine.parallel import run_parallel

        # longest first: the last method to finish sets the wall time
        pending.sort(key=lambda label: -step_seconds(task, label))
        run_parallel(task, book, pending, device, jobs, on_progress)
        return
    for label in pending:
        stepper = task.stepper(label)
        book.start(stepper)
        run_stepper(stepper, book, task, on_progress)
        book.finish(stepper)


def _write(book: RunBook) -> bool:
    """Write every file of the run, signals held until done; True if Ctrl-C came meanwhile."""
    try:
        with held_signals():
            book.flush(force=True)
    except KeyboardInterrupt:
        return True
    return False
