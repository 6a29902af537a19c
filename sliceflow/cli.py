"""The ``sliceflow`` command: thin typer commands over the library, with shared option types.

Heavy modules (torch, matplotlib) are imported inside command bodies, so ``sliceflow --help`` is
instant. A user error is one line on stderr and exit code 2; Ctrl-C keeps what was computed.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    name="sliceflow",
    help="Sliced-Wasserstein particle flows in Euclidean space and on the Poincaré ball.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
USER_ERROR, INTERRUPTED = 2, 130

# -- options shared by several commands ---------------------------------------------------------
Gif = Annotated[bool | None, typer.Option("--gif/--no-gif", help="write GIFs")]
GifSeed = Annotated[
    int | None, typer.Option("--gif-seed", help="index of the seed shown (0 = first)")
]
GifFrames = Annotated[int | None, typer.Option("--gif-frames", help="frames per GIF")]
Fps = Annotated[float | None, typer.Option("--fps", help="GIF frames per second")]
Size = Annotated[int | None, typer.Option("--size", help="GIF panel size in pixels")]
Format = Annotated[str | None, typer.Option("--format", help="figure format: png or pdf")]
Threshold = Annotated[
    float | None, typer.Option(help="report the first step whose median log10 value is below")
]
Force = Annotated[
    bool, typer.Option("--force", help="run even if the exact traces are predicted to be slow")
]


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2: for errors the user can fix."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(USER_ERROR)


def render_options(gif, gif_seed, gif_frames, fps, size, fmt, **more) -> dict:
    """The output options given on the command line (None = unset), keyed as ``output:``."""
    given = {"gif": gif, "gif_seed": gif_seed, "gif_frames": gif_frames, "gif_fps": fps,
             "gif_size_px": size, "format": fmt, **more}  # fmt: skip
    return {key: value for key, value in given.items() if value is not None}


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory")] = None,
    seeds: Annotated[int | None, typer.Option(help="run seeds 0..N-1 instead")] = None,
    steps: Annotated[int | None, typer.Option(help="number of steps")] = None,
    methods: Annotated[str | None, typer.Option(help="comma-separated labels to run")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a scenario value: key.path=value (repeatable)"),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    jobs: Annotated[
        int | None, typer.Option(help="methods run in parallel processes (default: CPU cores)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the interrupted run in --out")] = False,
    progress: Annotated[bool, typer.Option(help="progress bars (only on a terminal)")] = True,
    force: Force = False,
    gif: Gif = None,
    gif_seed: GifSeed = None,
    gif_frames: GifFrames = None,
    fps: Fps = None,
    size: Size = None,
    fmt: Format = None,
) -> None:
    """Run SCENARIO: each method steps all seeds; traces, plots and GIFs go to --out."""
    from sliceflow.engine import RunInterrupted, run
    from sliceflow.errors import UserError
    from sliceflow.scenario import parse_override

    if steps is not None and steps < 0:
        fail(f"--steps {steps}: the number of steps must be >= 0")
    if jobs is not None and jobs < 1:
        fail(f"--jobs {jobs}: use 1 or more worker processes")
    if seeds is not None and seeds < 1:
        fail(f"--seeds {seeds}: give at least 1 seed")
    output = render_options(gif, gif_seed, gif_frames, fps, size, fmt)
    given = [*(set_ or []), *(f"output.{k}={v}" for k, v in output.items())]
    bar = _Progress(enabled=progress and sys.stderr.isatty())
    try:
        overrides = dict(parse_override(item) for item in given) or None
        labels = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
        with bar:
            result = run(scenario, out=out, seeds=seeds, steps=steps, methods=labels,
                         overrides=overrides, device=device, resume=resume,
                         jobs=jobs or _cores(), on_progress=bar.update,
                         force=force)  # fmt: skip
    except UserError as error:
        fail(str(error))
    except RunInterrupted as stop:
        _render_partial(stop.result.out_dir)
        again = ["sliceflow", "run", str(scenario), "--out", str(stop.result.out_dir)]
        for option, value in (("--seeds", seeds), ("--steps", steps), ("--methods", methods)):
            again += [option, str(value)] if value is not None else []
        for item in set_ or []:
            again += ["--set", item]
        again += ["--force"] if force else []
        again += ["--device", device] if device != "cpu" else []
        kept = f"kept steps {stop.result.completed_steps} in {stop.result.out_dir}"
        command = shlex.join([*again, "--resume"])
        err_console.print(
            f"[yellow]interrupted[/]: {escape(kept)}; continue with: {escape(command)}"
        )
        raise typer.Exit(INTERRUPTED) from None
    _print_summary(result)


@app.command("validate")
def validate_command(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario YAML files")],
    force: Force = False,
) -> None:
    """Check scenario files (keys, values, methods, datasets, data files, the predicted cost of
    the exact traces) without running."""
    from sliceflow.errors import UserError
    from sliceflow.scenario import load_scenario
    from sliceflow.tasks import get_task

    failed = 0
    for path in scenarios:
        try:
            scenario = load_scenario(path)
            get_task(scenario.task).check(scenario)
            if not force:
                get_task(scenario.task).check_budget(scenario)
        except UserError as error:
            failed += 1
            err_console.print(f"[bold red]error:[/] {escape(str(error))}")
            continue
        counts = f"{scenario.steps} steps x {len(scenario.seeds)} seeds"
        console.print(f"[green]ok[/] {escape(str(path))}: task {scenario.task}, {counts}, methods "
                      f"{', '.join(scenario.labels)}")  # fmt: skip
    if failed:
        raise typer.Exit(USER_ERROR)


@app.command("list")
def list_command() -> None:
    """List the tasks, methods, datasets and manifolds sliceflow knows."""
    from rich.markup import escape

    from sliceflow.datasets import DATASETS
    from sliceflow.flows import FLOW_VARIANTS, FLOWS
    from sliceflow.manifolds import MANIFOLDS
    from sliceflow.tasks import TASKS, get_task

    get_task("flow")  # imports every task module
    console.print("[bold]tasks[/]")
    for name, task in sorted(TASKS.items()):
        console.print(f"  {name:<22} {escape((task.__doc__ or '').strip().splitlines()[0])}")
    console.print("[bold]methods[/] (task flow)")
    entries = [(n, c, ", ".join(sorted(c.manifolds))) for n, c in FLOWS.items()]
    entries += [(n, c, m) for (n, m), c in FLOW_VARIANTS.items()]
    for name, cls, where in sorted(entries, key=lambda e: (e[0], e[2])):
        console.print(f"  {name:<22} {escape(cls.summary)} [dim]({where})[/]")
    console.print("[bold]datasets[/]")
    for name, dataset in sorted(DATASETS.items()):
        where = ", ".join(sorted(dataset.manifolds))
        console.print(f"  {name:<22} {escape(dataset.summary)} [dim]({where})[/]")
    console.print("[bold]manifolds[/]")
    for name, cls in sorted(MANIFOLDS.items()):
        console.print(f"  {name:<22} {escape(cls.summary)}")


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `sliceflow run`")],
    gif: Gif = None,
    gif_seed: GifSeed = None,
    gif_frames: GifFrames = None,
    fps: Fps = None,
    size: Size = None,
    fmt: Format = None,
    threshold: Threshold = None,
    log_time: Annotated[
        bool | None, typer.Option("--log-time/--linear-time", help="log-scale step axis")
    ] = None,
) -> None:
    """Re-render trace, snapshots, GIFs and report.md/.html of RUN_DIR (no flow is recomputed).

    Unset options come from the run's scenario.yaml `output:` section.
    """
    from sliceflow.errors import UserError
    from sliceflow.report import render_run
    from sliceflow.report.io import load_run
    from sliceflow.report.tables import STATS_HEADER, missing_lines, stats_table

    options = render_options(gif, gif_seed, gif_frames, fps, size, fmt, threshold=threshold,
                             log_time=log_time)  # fmt: skip
    try:
        written, resolved = render_run(run_dir, **options), None
        run = load_run(run_dir)
        from sliceflow.report.style import resolve_options

        resolved = resolve_options(run.scenario, **options)
    except UserError as error:
        fail(str(error))
    for line in missing_lines(run):
        err_console.print(f"[yellow]interrupted run[/]: {escape(line)}")
    _print_table(f"{run.name}: {run.quantity}, median [q25, q75] @step", STATS_HEADER,
                 stats_table(run, resolved.threshold))  # fmt: skip
    console.print(f"wrote {len(written)} files to {run.run_dir}: "
                  + ", ".join(p.name for p in written))  # fmt: skip


@app.command("compare")
def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="run directories to compare")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output folder (default: compare/ beside)")
    ] = None,
    fmt: Format = None,
    threshold: Threshold = None,
) -> None:
    """Write compare_trace.<format> and compare.md: methods of every run, prefixed by run name."""
    from rich.markdown import Markdown

    from sliceflow.errors import UserError
    from sliceflow.report.compare import compare_runs

    try:
        comparison = compare_runs(run_dirs, out=out, fmt=fmt, threshold=threshold)
    except UserError as error:
        fail(str(error))
    console.print(Markdown(comparison.markdown))
    console.print("wrote " + ", ".join(str(p) for p in comparison.paths))


# -- helpers of `run` ---------------------------------------------------------------------------
def _render_partial(out_dir) -> None:
    """Figures and report of what an interrupted run finished (GIFs skipped: be quick)."""
    from sliceflow.report import render_run

    try:
        render_run(out_dir, gif=False)
    except Exception as error:  # the data files are safe; a figure failing must not hide them
        err_console.print(
            f"[yellow]report of the finished steps not rendered[/]: {escape(str(error))}"
        )


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Progress:
    """A rich progress bar per method with ETA and a note (e.g. a slow exact trace), shown from
    the first step on; silent when disabled (not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.progress, self.tasks = enabled, None, {}

    def __enter__(self):
        return self

    def update(self, label: str, step: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,  # fmt: skip
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description:>14}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"), console=err_console, transient=False,
            )  # fmt: skip
            self.progress.__enter__()
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=total, note="")
        self.progress.update(self.tasks[label], completed=step, note=note)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def _print_summary(result) -> None:
    from rich.table import Table

    last = {}
    for method, step, n_seeds, n_div, q25, med, q75 in result.summary():
        last[method] = (step, n_seeds, n_div, q25, med, q75)
    quantity = result.schema.description
    table = Table(title=f"{result.scenario.name}: log10 {quantity} at the last step")
    for column in ("method", "step", "median \\[q25, q75]", "diverged", "ms/step"):
        table.add_column(column, justify="right" if column != "method" else "left")
    ms = result.info.get("ms_per_step", {})
    for label in result.labels:
        if label not in last:
            continue
        step, n_seeds, n_div, q25, med, q75 = last[label]
        table.add_row(label, str(step), f"{med:.3f} [{q25:.3f}, {q75:.3f}]", f"{n_div}/{n_seeds}",
                      f"{ms.get(label, float('nan')):.2f}")  # fmt: skip
    console.print(table)
    console.print(f"outputs in {result.out_dir}")


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title.replace("[", "\\["))
    for column in header:
        table.add_column(column.replace("[", "\\["), justify="left")
    for row in rows:
        table.add_row(*(cell.replace("[", "\\[") for cell in row))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
