"""Compare several runs: one trace figure (methods prefixed by run name) and one table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, is_interrupted, load_run
from sliceflow.report.style import resolve_options, save_figure
from sliceflow.report.tables import STATS_HEADER, markdown_table, stats_table, unfinished_lines
from sliceflow.report.trace import run_series, trace_figure
from sliceflow.rundir import SCENARIO_FILE, write_text


@dataclass
class Comparison:
    markdown: str  # the table(s), also written to compare.md
    paths: list[Path]  # written files: trace figure, compare.md
    warnings: list[str] = field(default_factory=list)  # damage read past, "<run>: <line>"


def run_names(runs: list[RunData]) -> list[str]:
    """Scenario names, falling back to directory names (then paths) when two runs share one."""
    for candidates in (
        [r.name for r in runs],
        [r.run_dir.name for r in runs],
        [str(r.run_dir) for r in runs],
    ):
        if len(set(candidates)) == len(candidates):
            return candidates
    return [f"{r.name}#{i}" for i, r in enumerate(runs)]


def _overview(runs: list[RunData], names: list[str]) -> list[list[str]]:
    rows = []
    for name, run in zip(names, runs, strict=True):
        rows.append(
            [
                name,
                str(run.run_dir),
                run.task,
                str(run.scenario.get("n_particles", "n/a")),
                str(run.scenario.get("steps", "n/a")),
                ("interrupted" if is_interrupted(run) else "complete")
                + (", damaged files" if run.warnings else ""),
            ]
        )
    return rows


def compare_runs(
    run_dirs: list[Path | str],
    *,
    out: Path | str | None = None,
    fmt: str | None = None,
    threshold: float | None = None,
) -> Comparison:
    """Write ``compare_trace.<fmt>`` and ``compare.md`` into ``out`` (``fmt`` None: the first
    run's ``output.format``).

    ``out`` defaults to ``compare/`` beside the first run directory.
    """
    if len(run_dirs) < 1:
        raise RunDirError("compare needs at least one run directory; pass RUN_DIR RUN_DIR ...")
    runs = [load_run(d) for d in run_dirs]
    names = run_names(runs)
    settings = resolve_options(runs[0].scenario, runs[0].run_dir / SCENARIO_FILE, format=fmt,
                               threshold=threshold)  # fmt: skip
    fmt, threshold = settings.format, settings.threshold
    out_dir = Path(out) if out is not None else Path(run_dirs[0]).parent / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)

    series = [s for name, run in zip(names, runs, strict=True) for s in run_series(run, f"{name}/")]
    quantities = {run.schema.description for run in runs}
    quantity = quantities.pop() if len(quantities) == 1 else " / ".join(sorted(quantities))
    figure = trace_figure(series, quantity=quantity, log_time=False, title=" vs ".join(names))
    figure_path = save_figure(figure, out_dir / f"compare_trace.{fmt}")

    rows = [
        row
        for name, run in zip(names, runs, strict=True)
        for row in stats_table(run, threshold, prefix=f"{name}/")
    ]
    overview = markdown_table(
        ["run", "directory", "task", "n", "steps", "status"], _overview(runs, names)
    )
    lines = [overview, "", f"log10 {quantity} over seeds; threshold {threshold:g}.", ""]
    lines.append(markdown_table(STATS_HEADER, rows))
    missing = [f"- {name}: {line}" for name, run in zip(names, runs, strict=True)
               for line in unfinished_lines(run)]  # fmt: skip
    if missing:
        lines += ["", "Missing steps:", ""] + missing
    damaged = [f"{name}: {line}" for name, run in zip(names, runs, strict=True)
               for line in run.warnings]  # fmt: skip
    if damaged:
        lines += ["", "Damaged files (the rows named were left out):", ""]
        lines += [f"- {line}" for line in damaged]
    table = "\n".join(lines)
    link = (
        f"[{figure_path.name}]({figure_path.name})"
        if fmt == "pdf"
        else (f"![trace]({figure_path.name})")
    )
    document = f"# sliceflow compare\n\n{table}\n\n{link}\n"
    md_path = write_text(out_dir / "compare.md", document)
    return Comparison(markdown=table, paths=[figure_path, md_path], warnings=damaged)
