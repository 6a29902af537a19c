"""Reports of a saved run: trace and metric figures, snapshot grid, GIFs, report.md/.html.

Everything is rendered from the files a run wrote (trace.csv, summary.csv, metrics.csv,
particles.npz, scenario.yaml); no flow is ever recomputed. matplotlib is imported lazily, inside
the functions that draw, so importing this package stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, is_interrupted, load_run, progress
from sliceflow.rundir.layout import file_label


def render_run(run_dir: Path | str, **options: Any) -> list[Path]:
    """Render every figure, GIF and report of a run directory; return the written paths.

    Every run gets its trace figures, metric figures and report.md/html; the report registered
    for its task (:mod:`sliceflow.report.tasks`) adds that task's figures and tables, and a task
    with none registered gets the generic trace report alone.

    Parameters
    ----------
    run_dir : Path or str
        The ``--out`` folder of a run.
    **options : Any
        Keys of a scenario's ``output:`` section (``gif``, ``gif_seed``, ``gif_frames``,
        ``gif_fps``, ``gif_size_px``, ``format``, ``threshold``, ``log_time``); None or absent
        means the run's own ``output:`` section, else the defaults.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    RunDirError
        One line, on a bad run directory or option.
    """
    from sliceflow.report.document import EmbeddedFigure, write_documents
    from sliceflow.report.style import figure_png_bytes, resolve_options, save_figure
    from sliceflow.report.tables import reference_lines
    from sliceflow.report.tasks import task_report
    from sliceflow.report.trace import (
        column_series,
        metric_figure,
        metric_names,
        run_series,
        trace_figure,
    )
    from sliceflow.rundir import SCENARIO_FILE

    run = load_run(run_dir)
    report = task_report(run.task)
    settings = resolve_options(run.scenario, run.run_dir / SCENARIO_FILE, **options)
    written: list[Path] = []
    figures: list[EmbeddedFigure] = []

    def static(figure, caption: str, stem: str) -> None:
        path = save_figure(figure, run.run_dir / f"{stem}.{settings.format}")
        written.append(path)
        png = path.read_bytes() if settings.format == "png" else figure_png_bytes(figure)
        figures.append(EmbeddedFigure(caption, path.name, png, "image/png"))

    title = run.name + (" (interrupted)" if is_interrupted(run) else "")
    figure = trace_figure(run_series(run), quantity=run.schema.description,
                          log_time=settings.log_time, title=title,
                          references=reference_lines(run))  # fmt: skip
    static(figure, f"{run.quantity} against the step", "trace")
    for column, description in run.schema.secondary:  # other traced distances, one figure each
        figure = trace_figure(column_series(run, column), quantity=description,
                              log_time=settings.log_time, title=title)  # fmt: skip
        static(figure, f"log10 {description} against the step", f"trace_{file_label(column)}")
    written += report.render(run, settings, figures, static)
    for name in metric_names(run):
        figure = metric_figure(run, name, log_time=settings.log_time)
        static(figure, f"metric {name} against the step", f"metrics_{file_label(name)}")
    written += write_documents(run, settings, figures, report.sections(run))
    return written


def compare_runs(run_dirs, out=None, fmt: str | None = None, threshold: float | None = None):
    """Compare several runs: one trace figure and one table (see sliceflow.report.compare)."""
    from sliceflow.report.compare import compare_runs as _compare

    return _compare(run_dirs, out=out, fmt=fmt, threshold=threshold)


__all__ = [
    "RunData",
    "RunDirError",
    "compare_runs",
    "file_label",
    "is_interrupted",
    "load_run",
    "progress",
    "render_run",
]
