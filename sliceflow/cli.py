"""The ``sliceflow`` command: thin typer commands over the library, with shared option types.

Heavy modules (torch, matplotlib) are imported inside command bodies, so ``sliceflow --help`` is
instant. A user error is one line on stderr and exit code 2; Ctrl-C or SIGTERM keeps what was
computed and prints the command that continues (exit code 130).
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
ScenarioFile = Annotated[Path, typer.Argument(help="scenario YAML file")]
Device = Annotated[str, typer.Option(help="cpu or cuda")]


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2: for errors the user can fix."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(USER_ERROR)


def too_big(error: BaseException) -> str | None:
    """The one-line message for an allocation that cannot succeed (sizes set in the scenario), or
    None for any other error."""
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    ):
        return (
            "out of memory: the scenario asks for arrays larger than this machine holds; reduce "
            "its sizes (particles, samples, dimensions, widths, projections, batch size)"
        )
    return None


def render_options(gif, gif_seed, gif_frames, fps, size, fmt, **more) -> dict:
    """The output options given on the command line (None = unset), keyed as ``output:``."""
    given = {"gif": gif, "gif_seed": gif_seed, "gif_frames": gif_frames, "gif_fps": fps,
             "gif_size_px": size, "format": fmt, **more}  # fmt: skip
    return {key: value for key, value in given.items() if value is not None}


@contextmanager
def user_errors(memory: bool = False) -> Iterator[None]:
    """A user error inside becomes one line and exit code 2 (``fail``); with ``memory``, so
    does an allocation that cannot succeed (``too_big``)."""
    from sliceflow.errors import UserError

    try:
        yield
    except UserError as error:
        fail(str(error))
    except (MemoryError, RuntimeError) as error:
        message = too_big(error) if memory else None
        if message is None:
            raise
        fail(message)


def overrides_of(items: list[str]) -> dict:
    """``--set key.path=value`` items as a dict of overrides (``ScenarioError`` on a bad one)."""
    from sliceflow.scenario import parse_override

    return dict(parse_override(item) for item in items)


def interrupted(kept: str, again: list[tuple]) -> NoReturn:
    """After Ctrl-C: say what was kept and the command that continues, then exit code 130.

    ``again``: the command's words, then ``(option, value, default)`` for each option to repeat:
    a list repeats the option per item, ``True`` gives a flag, another value is written unless it
    is the default."""
    words = [str(word) for word in again if not isinstance(word, tuple)]
    for option, value, default in (part for part in again if isinstance(part, tuple)):
        if isinstance(value, list):
            words += [word for item in value for word in (option, item)]
        elif isinstance(value, bool):
            words += [option] if value else []
        elif value != default:
            words += [option, str(value)]
    command = shlex.join(words)
    err_console.print(f"[yellow]interrupted[/]: {escape(kept)}; continue with: {escape(command)}")
    raise typer.Exit(INTERRUPTED) from None


class _Stops:
    """SIGINT and SIGTERM as Ctrl-C while a command runs, counted: the first stops the
    computation (the library writes what it finished), a second one skips the figures.

    While ``raising`` is False a signal is only counted (the closing message is printed whole).
    """

    def __init__(self) -> None:
        self.count, self.raising = 0, True

    def __call__(self, signum, frame) -> None:
        self.count += 1
        if self.raising:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[_Stops]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        numbers = (signal.SIGINT, signal.SIGTERM)
        previous = {number: signal.signal(number, self) for number in numbers}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def quietly(self, render, *args) -> None:
        """``render(*args)`` unless a second signal came; a signal during it stops it."""
        if self.count < 2:
            try:
                render(*args)
            except KeyboardInterrupt:
                err_console.print("[yellow]report of the finished steps not rendered[/] "
                                  "(interrupted again)")  # fmt: skip
        self.raising = False


@app.command("run")
def run_command(
    scenario: ScenarioFile,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory")] = None,
    seeds: Annotated[int | None, typer.Option(help="run seeds 0..N-1 instead")] = None,
    steps: Annotated[int | None, typer.Option(help="number of steps")] = None,
    methods: Annotated[str | None, typer.Option(help="comma-separated labels to run")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a scenario value: key.path=value (repeatable)"),
    ] = None,
    device: Device = "cpu",
    jobs: Annotated[
        int | None, typer.Option(help="methods run in parallel processes (default: CPU cores)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the interrupted run in --out")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="replace the run in --out (only files sliceflow wrote)")
    ] = False,
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

    _check_counts(steps=steps, jobs=jobs, seeds=seeds)
    output = render_options(gif, gif_seed, gif_frames, fps, size, fmt)
    given = [*(set_ or []), *(f"output.{k}={v}" for k, v in output.items())]
    bar = _Progress(enabled=progress and sys.stderr.isatty())
    labels = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    with _Stops().installed() as stops:
        try:
            with user_errors(memory=True), bar:
                result = run(scenario, out=out, seeds=seeds, steps=steps, methods=labels,
                             overrides=overrides_of(given) or None, device=device,
                             resume=resume, overwrite=overwrite, jobs=jobs or _cores(),
                             on_progress=bar.update, force=force)  # fmt: skip
        except RunInterrupted as stop:
            stops.quietly(_render_partial, stop.result.out_dir)
            _run_interrupted(stop, scenario, seeds, steps, methods, set_, force, device)
    _print_summary(result)


def _run_interrupted(stop, scenario, seeds, steps, methods, set_, force, device) -> NoReturn:
    """What an interrupted `run` kept, and the command that continues it."""
    interrupted(f"kept steps {stop.result.completed_steps} in {stop.result.out_dir}",
                ["sliceflow", "run", scenario, "--out", stop.result.out_dir,
                 ("--seeds", seeds, None), ("--steps", steps, None),
                 ("--methods", methods, None), ("--set", set_ or [], None),
                 ("--force", force, False), ("--device", device, "cpu"),
                 ("--resume", True, False)])  # fmt: skip


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
        except (UserError, MemoryError, RuntimeError) as error:
            message = str(error) if isinstance(error, UserError) else too_big(error)
            if message is None:
                raise
            failed += 1
            err_console.print(f"[bold red]error:[/] {escape(message)}")
            continue
        counts = f"{scenario.steps} steps x {len(scenario.seeds)} seeds"
        console.print(f"[green]ok[/] {escape(str(path))}: task {scenario.task}, {counts}, methods "
                      f"{', '.join(scenario.labels)}")  # fmt: skip
    if failed:
        raise typer.Exit(USER_ERROR)


@app.command("list")
def list_command() -> None:
    """List the tasks, methods, datasets and manifolds sliceflow knows, and where each is from."""
    from sliceflow.registry import Registry, catalogue

    sections = _registries()
    for title, task, entries in sections:
        rows = catalogue(entries)
        if rows:
            console.print(f"[bold]{title}[/]" + (f" (task {task})" if task else ""))
        for name, summary, where in rows:
            origin = f" [dim]({escape(where)})[/]" if where else ""
            console.print(f"  {name:<22} {escape(summary)}{origin}")
    registries = [entries for _, _, entries in sections if isinstance(entries, Registry)]
    for line in (line for entries in registries for line in entries.plugins.broken.values()):
        err_console.print(f"[yellow]broken plugin[/]: {escape(line)}")


def _registries() -> list[tuple[str, str | None, dict]]:
    """(title, task or None, registry) of everything a scenario can name: the tasks, each
    task's own registries (``Task.catalogue``), then the datasets and manifolds they share."""
    from sliceflow.datasets import DATASETS
    from sliceflow.manifolds import MANIFOLDS
    from sliceflow.tasks import TASKS

    TASKS.load()
    sections = [("tasks", None, TASKS)]
    for name, task in sorted(TASKS.items()):
        sections += [(title, name, entries) for title, entries in task.catalogue()]
    return [*sections, ("datasets", None, DATASETS), ("manifolds", None, MANIFOLDS)]


@app.command("report")
def report_command(
    run_dir: Annotated[
        Path, typer.Argument(help="run directory of `sliceflow run`, or a `sliceflow sweep` folder")
    ],
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

    Unset options come from the run's scenario.yaml `output:` section. For a sweep folder (it
    holds sweep.yaml): sweep.csv, the sweep figure, sweep.md and sweep.html.
    """
    from sliceflow.report import render_run
    from sliceflow.report.io import load_run
    from sliceflow.report.style import resolve_options
    from sliceflow.report.tables import STATS_HEADER, stats_table, unfinished_lines
    from sliceflow.sweepdir import is_sweep

    options = render_options(gif, gif_seed, gif_frames, fps, size, fmt, threshold=threshold,
                             log_time=log_time)  # fmt: skip
    if is_sweep(run_dir):
        return _report_sweep(run_dir, threshold, fmt)
    with user_errors():
        written = render_run(run_dir, **options)
        run = load_run(run_dir)
        resolved = resolve_options(run.scenario, **options)
    for line in unfinished_lines(run):
        err_console.print(f"[yellow]interrupted run[/]: {escape(line)}")
    for line in run.warnings:
        err_console.print(f"[yellow]damaged file[/]: {escape(line)}")
    _print_table(f"{run.name}: {run.quantity}, median [q25, q75] @step", STATS_HEADER,
                 stats_table(run, resolved.threshold))  # fmt: skip
    console.print(f"wrote {len(written)} files to {run.run_dir}: "
                  + ", ".join(p.name for p in written))  # fmt: skip


def _report_sweep(folder: Path, threshold: float | None, fmt: str | None) -> None:
    from sliceflow.report.sweep import render_sweep

    with user_errors():
        written = render_sweep(folder, threshold=threshold, fmt=fmt)
    _sweep_summary(folder, best=True)
    console.print(f"wrote {', '.join(p.name for p in written)} in {folder}")


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

    from sliceflow.report.compare import compare_runs

    with user_errors():
        comparison = compare_runs(run_dirs, out=out, fmt=fmt, threshold=threshold)
    for line in comparison.warnings:
        err_console.print(f"[yellow]damaged file[/]: {escape(line)}")
    console.print(Markdown(comparison.markdown))
    console.print("wrote " + ", ".join(str(p) for p in comparison.paths))


@app.command("sweep")
def sweep_command(
    scenario: ScenarioFile,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="path=v1,v2,...: one axis of the grid, paths as --set takes"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="sweep folder (default: sweeps/<name>)")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a value at every point: key.path=value"),
    ] = None,
    executor: Annotated[str, typer.Option(help="local (process pool) or ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster HOST:PORT (default: RAY_ADDRESS, else local)")
    ] = None,
    max_parallel: Annotated[
        int | None, typer.Option(help="runs at once (default: local = CPU cores, ray = any)")
    ] = None,
    shard_seeds: Annotated[int, typer.Option(help="split each point's seeds into K runs")] = 1,
    device: Device = "cpu",
    yes: Annotated[
        bool, typer.Option("--yes", help="allow a grid of more than 100 points")
    ] = False,
    best: Annotated[bool, typer.Option("--best", help="print the best setting per method")] = False,
    threshold: Threshold = None,
    gif: Gif = None,
    fmt: Format = None,
) -> None:
    """Run SCENARIO at every point of the --grid: one run folder per point, sweep.csv, a figure,
    sweep.md and sweep.html in --out. Running the same command again finishes what is missing."""
    from sliceflow.engine.sweep import SweepInterrupted, sweep

    options = render_options(gif, None, None, None, None, fmt, threshold=threshold)
    with _Stops().installed() as stops:
        try:
            with user_errors():
                result = sweep(scenario, grid or [], out=out, overrides=overrides_of(set_ or []),
                               executor=executor, address=address, max_parallel=max_parallel,
                               shard_seeds=shard_seeds, device=device, yes=yes,
                               render_options=options, threshold=threshold,
                               on_event=_sweep_event)  # fmt: skip
        except SweepInterrupted as stop:
            stops.raising = False
            interrupted(f"{len(stop.result.states('completed'))} finished points kept in "
                        f"{stop.result.out_dir}",
                        ["sliceflow", "sweep", scenario, "--out", stop.result.out_dir,
                         ("--grid", grid or [], None), ("--set", set_ or [], None),
                         ("--executor", executor, "local"), ("--address", address, None),
                         ("--max-parallel", max_parallel, None),
                         ("--shard-seeds", shard_seeds, 1), ("--device", device, "cpu"),
                         ("--yes", yes, False)])  # fmt: skip
    _sweep_summary(result.out_dir, best)
    _sweep_unfinished(result)


def _sweep_unfinished(result) -> None:
    """Exit code 2 (a point failed) or 1 (a point was lost) naming the unfinished points."""
    failed, lost = result.states("failed"), result.states("lost")
    if failed or lost:
        err_console.print(f"[bold red]{len(failed) + len(lost)} points did not finish[/] "
                          f"({', '.join(failed + lost)}); fix what the lines above say, then "
                          "run the same command again to finish them")  # fmt: skip
        raise typer.Exit(USER_ERROR if failed else 1)


def _sweep_event(kind: str, point: str, detail: str) -> None:
    styles = {"completed": "green", "skip": "dim", "start": "dim", "failed": "bold red",
              "lost": "bold red", "interrupted": "yellow"}  # fmt: skip
    words = {"skip": "already finished", "start": "started"}
    text = f"[{styles.get(kind, 'default')}]{words.get(kind, kind)}[/] {escape(point)}"
    err_console.print(text + (f": {escape(detail)}" if detail else ""))


def _sweep_summary(folder: Path, best: bool) -> None:
    from sliceflow.report.sweep import best_rows, load_sweep

    report = load_sweep(folder, aggregate=False)
    if best:
        console.print(f"[bold]best setting per method[/] (final median \\[q25, q75] of "
                      f"{escape(report.quantity)}):")  # fmt: skip
        for row in best_rows(report):
            setting = ", ".join(f"{path}={row.values[path]}" for path in report.paths)
            below = (
                "" if row.first_below is None else f", below threshold at step {row.first_below}"
            )
            console.print(
                f"  {escape(row.method)}: {escape(setting)} -> {row.median:.3f} "
                f"[{row.q25:.3f}, {row.q75:.3f}]{below} ({escape(row.point)})"
            )
    done = sum(p["state"] == "completed" for p in report.record["points"])
    console.print(f"{done} of {len(report.record['points'])} points finished; outputs in "
                  f"{report.folder} (sweep.csv, sweep.md, sweep.html)")  # fmt: skip


# -- helpers of `run` ---------------------------------------------------------------------------
def _check_counts(steps: int | None, jobs: int | None, seeds: int | None) -> None:
    """The counts given on the command line, checked before anything is read."""
    if steps is not None and steps < 0:
        fail(f"--steps {steps}: the number of steps must be >= 0")
    if jobs is not None and jobs < 1:
        fail(f"--jobs {jobs}: use 1 or more worker processes")
    if seeds is not None and seeds < 1:
        fail(f"--seeds {seeds}: give at least 1 seed")


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
