"""``sliceflow report RUN_DIR``: re-render every figure, GIF and report from a run's saved files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sliceflow.cli import app
from sliceflow.cli._common import console, err_console, fail


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `sliceflow run`")],
    gif: Annotated[bool | None, typer.Option("--gif/--no-gif", help="write GIFs")] = None,
    gif_seed: Annotated[
        int | None, typer.Option("--gif-seed", help="index of the seed shown (0 = first)")
    ] = None,
    gif_frames: Annotated[int | None, typer.Option("--gif-frames", help="frames per GIF")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="GIF frames per second")] = None,
    size: Annotated[int | None, typer.Option("--size", help="GIF panel size in pixels")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="png or pdf figures")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="report the first step whose median log10 W2^2 is below")
    ] = None,
    log_time: Annotated[
        bool | None, typer.Option("--log-time/--linear-time", help="log-scale step axis")
    ] = None,
) -> None:
    """Re-render trace, snapshots, GIFs and report.md/.html of RUN_DIR (no flow is recomputed).

    Unset options come from the run's scenario.yaml `output:` section.
    """
    from sliceflow.report import RunDirError, render_run
    from sliceflow.report.io import load_run
    from sliceflow.report.style import resolve_options
    from sliceflow.report.tables import STATS_HEADER, missing_lines, stats_table

    try:
        written = render_run(
            run_dir, gif=gif, gif_seed=gif_seed, gif_frames=gif_frames, gif_fps=fps,
            gif_size_px=size, fmt=fmt, threshold=threshold, log_time=log_time,
        )  # fmt: skip
        run = load_run(run_dir)
        options = resolve_options(run.scenario, threshold=threshold)
    except RunDirError as error:
        fail(str(error))
    for line in missing_lines(run):
        err_console.print(f"[yellow]interrupted run[/]: {line}")
    print_table(f"{run.name}: log10 W2^2, median [q25, q75] @step", STATS_HEADER,
                stats_table(run, options.threshold))  # fmt: skip
    console.print(f"wrote {len(written)} files to {run.run_dir}: "
                  + ", ".join(p.name for p in written))  # fmt: skip


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title.replace("[", "\\["))
    for column in header:
        table.add_column(column.replace("[", "\\["), justify="left")
    for row in rows:
        table.add_row(*(cell.replace("[", "\\[") for cell in row))
    console.print(table)
