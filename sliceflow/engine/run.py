"""Run a scenario: every method of its task, all seeds batched, written to a run directory.

``run`` resolves a scenario, builds its task (e.g. the particle flow: per-seed clouds), advances
each method's stepper to the last step (in worker processes with ``jobs > 1``), and writes the run
directory atomically, also when interrupted. It knows no task and no method by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sliceflow import rundir
from sliceflow.engine.book import RunBook
from sliceflow.engine.loop import ProgressCallback, run_stepper, step_seconds, threads, torch_device
from sliceflow.engine.result import RunInterrupted, RunResult
from sliceflow.scenario import ScenarioBase, build_scenario, load_scenario
from sliceflow.tasks import get_task


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
    out : run directory (default: the scenario's ``output.dir``, else ``runs/<name>``).
    seeds, steps, methods, overrides : the CLI's ``--seeds``, ``--steps``, ``--methods``, ``--set``.
    device : ``"cpu"`` or ``"cuda"``; tensors and models live there (exact traces on the CPU).
    resume : continue the interrupted run in ``out`` from its last snapshot (bit for bit); the
        scenario, with the same ``seeds``/``steps``/``methods``/``overrides``, must be the one the
        run was started with (output options may change).
    write, render : write the run directory; then render figures, GIFs and reports.
    on_progress : called as ``on_progress(label, steps_done, steps_total)`` after each step, and
        with a fourth argument ``note`` during a slow measurement (e.g. a large exact trace).
    jobs : methods run side by side in this many worker processes (CPU only); the numbers are
        the same as with ``jobs=1``, only the wall time changes.
    force : run even when the task predicts an unreasonably slow run (e.g. exact traces of
        large clouds: ``Task.check_budget``).

    Raises
    ------
    UserError (ScenarioError, RunDirError) : bad input, one-line message.
    RunInterrupted : Ctrl-C (what was finished is saved).
    """
    changes = {"overrides": overrides, "seeds": seeds, "steps": steps, "methods": methods}
    scenario = resolve_scenario(scenario, **changes)
    out_dir = Path(out or scenario.output.dir or Path("runs") / scenario.name) if write else None
    saved = None
    if resume:
        saved = rundir.read_checkpoint((out_dir or Path(".")) / rundir.CHECKPOINT_FILE)
    device_t = torch_device(device)
    if not force:
        get_task(scenario.task).check_budget(scenario)
    task = get_task(scenario.task)(scenario, device_t)
    book = RunBook(task, out_dir, device)
    if saved is not None:
        book.restore(saved)
    pending = [label for label in scenario.labels if book.completed.get(label) != scenario.steps]
    try:
        with threads(task):
            if jobs > 1 and len(pending) > 1 and device_t.type == "cpu":
                from sliceflow.engine.parallel import run_parallel

                # longest first: the last method to finish sets the wall time
                pending.sort(key=lambda label: -step_seconds(task, label))
                run_parallel(task, book, pending, device, jobs, on_progress)
            else:
                for label in pending:
                    stepper = task.stepper(label)
                    book.start(stepper)
                    run_stepper(stepper, book, task, on_progress)
                    book.finish(stepper)
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
