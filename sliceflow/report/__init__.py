"""Reports of a saved run: trace and metric figures, snapshot grid, GIFs, report.md/.html.

Everything is rendered from the files a run wrote (trace.csv, summary.csv, metrics.csv,
particles.npz, scenario.yaml); no flow is ever recomputed. matplotlib is imported lazily, inside
the functions that draw, so importing this package stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, is_interrupted, load_run, progress


def file_label(label: str) -> str:
    """A method label made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def render_run(run_dir: Path | str, **options: Any) -> list[Path]:
    """Render every figure, GIF and report of a run directory; return the written paths.

    ``options``: keys of a scenario's ``output:`` section (``gif``, ``gif_seed``, ``gif_frames``,
    ``gif_fps``, ``gif_size_px``, ``format``, ``threshold``, ``log_time``); None or absent means
    the run's own ``output:`` section, else the defaults. Raises RunDirError (one line) on a bad
    run directory or option.
    """
    from sliceflow.report.document import EmbeddedFigure, write_documents
    from sliceflow.report.style import figure_png_bytes, resolve_options, save_figure
    from sliceflow.report.trace import metric_figure, metric_names, run_series, trace_figure

    run = load_run(run_dir)
    settings = resolve_options(run.scenario, **options)
    written: list[Path] = []
    figures: list[EmbeddedFigure] = []

    def static(figure, caption: str, stem: str) -> None:
        path = save_figure(figure, run.run_dir / f"{stem}.{settings.format}")
        written.append(path)
        png = path.read_bytes() if settings.format == "png" else figure_png_bytes(figure)
        figures.append(EmbeddedFigure(caption, path.name, png, "image/png"))

    title = run.name + (" (interrupted)" if is_interrupted(run) else "")
    figure = trace_figure(run_series(run), quantity=run.schema.description,
                          log_time=settings.log_time, title=title)  # fmt: skip
    static(figure, f"{run.quantity} against the step", "trace")
    for render in TASK_RENDERERS.get(run.task, []):
        written += render(run, settings, figures, static)
    for name in metric_names(run):
        figure = metric_figure(run, name, log_time=settings.log_time)
        static(figure, f"metric {name} against the step", f"metrics_{file_label(name)}")
    written += write_documents(run, settings, figures)
    return written


def render_particles(run: RunData, options, figures: list, static) -> list[Path]:
    """snapshots.<fmt> and, if enabled, flow_<label>.gif per method and flows.gif."""
    from sliceflow.report.document import EmbeddedFigure
    from sliceflow.report.gif import write_gifs
    from sliceflow.report.particles import load_particles
    from sliceflow.report.snapshots import snapshots_figure

    if not run.particles_path().exists():
        return []
    particles = load_particles(run)
    if not any(p.shape[0] for p in particles.positions.values()):
        return []  # no snapshot was taken (or reached): nothing to draw
    static(
        snapshots_figure(run, particles, seed_index=options.gif_seed),
        "particles at chosen flow steps",
        "snapshots",
    )
    if not options.gif:
        return []
    gif_args = {
        "seed_index": options.gif_seed,
        "frames": options.gif_frames,
        "fps": options.gif_fps,
        "size_px": options.gif_size_px,
    }
    paths = write_gifs(run, particles, run.run_dir, file_label, **gif_args)
    for path in paths:
        caption = "all methods" if path.name == "flows.gif" else f"flow of {path.stem[5:]}"
        figures.append(EmbeddedFigure(caption, path.name, path.read_bytes(), "image/gif"))
    return paths


# Figures only some kinds of run have, by task name: render(run, options, figures, static)
TASK_RENDERERS: dict[str, list[Callable]] = {"flow": [render_particles]}


def compare_runs(run_dirs, out=None, fmt: str = "png", threshold: float | None = None):
    """Compare several runs: one trace figure and one table (see sliceflow.report.compare)."""
    from sliceflow.report.compare import compare_runs as _compare

    return _compare(run_dirs, out=out, fmt=fmt, threshold=threshold)


__all__ = [
    "TASK_RENDERERS",
    "RunData",
    "RunDirError",
    "compare_runs",
    "file_label",
    "is_interrupted",
    "load_run",
    "progress",
    "render_run",
]
