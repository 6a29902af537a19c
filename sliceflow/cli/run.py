"""``sliceflow run SCENARIO``: run every method of a scenario and write the run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sliceflow.cli import app
from sliceflow.cli._common import INTERRUPTED, console, err_console, fail


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory")] = None,
    seeds: Annotated[int | None, typer.Option(help="run seeds 0..N-1 instead")] = None,
    steps: Annotated[int | None, typer.Option(help="number of flow steps")] = None,
    methods: Annotated[str | None, typer.Option(help="comma-separated labels to run")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a scenario value: key.path=value (repeatable)"),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    jobs: Annotated[
        int | None, typer.Option(help="methods run in parallel processes (default: CPU cores)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue an interrupted run in --out")] = False,
    progress: Annotated[bool, typer.Option(help="progress bar (only on a terminal)")] = True,
    gif: Annotated[bool | None, typer.Option("--gif/--no-gif", help="write GIFs")] = None,
    gif_seed: Annotated[int | None, typer.Option(help="index of the seed in GIFs")] = None,
    gif_frames: Annotated[int | None, typer.Option(help="frames per GIF")] = None,
    fps: Annotated[float | None, typer.Option(help="GIF frames per second")] = None,
    size: Annotated[int | None, typer.Option(help="GIF panel size in pixels")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="png or pdf figures")] = None,
) -> None:
    """Run SCENARIO: each method steps all seeds; traces, plots and GIFs go to --out."""
    from sliceflow._scenario_models import ScenarioError
    from sliceflow.engine import RunInterrupted, resolve_scenario, run
    from sliceflow.report.io import RunDirError
    from sliceflow.scenario import parse_override

    if steps is not None and steps < 0:
        fail(f"--steps {steps}: the number of steps must be >= 0")
    if jobs is not None and jobs < 1:
        fail(f"--jobs {jobs}: use 1 or more worker processes")
    if seeds is not None and seeds < 1:
        fail(f"--seeds {seeds}: give at least 1 seed")
    if fmt is not None and fmt not in ("png", "pdf"):
        fail(f"--format {fmt!r}: use png or pdf")
    output = {"gif": gif, "gif_seed": gif_seed, "gif_frames": gif_frames, "gif_fps": fps,
              "gif_size_px": size, "format": fmt}  # fmt: skip
    set_ = [*(set_ or []), *(f"output.{k}={v}" for k, v in output.items() if v is not None)]
    try:
        overrides = dict(parse_override(item) for item in set_ or [])
        labels = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
        resolved = resolve_scenario(
            scenario, overrides=overrides, seeds=seeds, steps=steps, methods=labels
        )
    except ScenarioError as error:
        fail(str(error))
    show = progress and sys.stderr.isatty()
    try:
        with _Progress(resolved, enabled=show) as bar:
            result = run(
                resolved, out=out, device=device, resume=resume, jobs=jobs or _cores(),
                on_progress=bar.update,
            )  # fmt: skip
    except (ScenarioError, RunDirError) as error:
        fail(str(error))
    except RunInterrupted as stop:
        done = stop.result.completed_steps
        _render_partial(stop.result.out_dir)
        err_console.print(
            f"[yellow]interrupted[/]: kept steps {done} in {stop.result.out_dir}; "
            f"continue with: sliceflow run {scenario} --out {stop.result.out_dir} --resume"
        )
        raise typer.Exit(INTERRUPTED) from None
    _print_summary(result)


def _render_partial(out_dir) -> None:
    """Figures and report of what an interrupted run finished (GIFs skipped: be quick)."""
    from sliceflow.report import render_run

    try:
        render_run(out_dir, gif=False)
    except Exception as error:  # the data files are safe; a figure failing must not hide them
        err_console.print(f"[yellow]report of the finished steps not rendered[/]: {error}")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Progress:
    """A rich progress bar per method with ETA; silent when disabled (not a terminal)."""

    def __init__(self, scenario, enabled: bool) -> None:
        self.enabled, self.scenario, self.tasks = enabled, scenario, {}

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )  # fmt: skip

            self.progress = Progress(
                TextColumn("{task.description:>14}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=err_console, transient=False,
            )  # fmt: skip
            self.progress.__enter__()
            for spec in self.scenario.methods:
                self.tasks[spec.label] = self.progress.add_task(
                    spec.label, total=self.scenario.steps
                )
        return self

    def update(self, label: str, step: int, total: int) -> None:
        if self.enabled:
            self.progress.update(self.tasks[label], completed=step)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.progress.__exit__(*exc)


def _print_summary(result) -> None:
    from rich.table import Table

    last = {}
    for method, step, n_seeds, n_div, q25, med, q75 in result.summary():
        last[method] = (step, n_seeds, n_div, q25, med, q75)
    table = Table(title=f"{result.scenario.name}: log10 W2^2 at the last step")
    for column in ("method", "step", "median \\[q25, q75]", "diverged", "ms/step"):
        table.add_column(column, justify="right" if column != "method" else "left")
    ms = result.info.get("ms_per_step", {})
    for label in result.labels:
        step, n_seeds, n_div, q25, med, q75 = last[label]
        table.add_row(
            label, str(step), f"{med:.3f} [{q25:.3f}, {q75:.3f}]", f"{n_div}/{n_seeds}",
            f"{ms.get(label, float('nan')):.2f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"outputs in {result.out_dir}")
