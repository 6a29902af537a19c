"""``sliceflow compare RUN_DIR RUN_DIR ...``: one trace figure and one table over several runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sliceflow.cli import app
from sliceflow.cli._common import console, fail


@app.command("compare")
def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="run directories to compare")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output folder (default: compare/ beside)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="png or pdf figure")] = "png",
    threshold: Annotated[
        float | None, typer.Option(help="report the first step whose median log10 W2^2 is below")
    ] = None,
) -> None:
    """Write compare_trace.<format> and compare.md: methods of every run, prefixed by run name."""
    from rich.markdown import Markdown

    from sliceflow.report import RunDirError
    from sliceflow.report.compare import compare_runs

    try:
        comparison = compare_runs(run_dirs, out=out, fmt=fmt, threshold=threshold)
    except RunDirError as error:
        fail(str(error))
    console.print(Markdown(comparison.markdown))
    console.print("wrote " + ", ".join(str(p) for p in comparison.paths))
