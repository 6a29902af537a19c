"""Numbers of a report: per-method quartiles at chosen steps, threshold step, time per step.

Quartiles are read from summary.csv (the engine's numbers), never recomputed when it exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sliceflow.report.io import RunData, SummaryRow, progress
from sliceflow.rundir.record import shown


@dataclass
class MethodStats:
    label: str
    first: SummaryRow | None
    middle: SummaryRow | None
    last: SummaryRow | None
    threshold_step: int | None  # first traced step whose median < threshold
    seconds_per_step: float | None
    n_diverged: int
    n_total: int


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def format_quartiles(row: SummaryRow | None) -> str:
    """'median [q25, q75] @ step' of log10 W2^2."""
    if row is None:
        return "n/a"
    return f"{_fmt(row.median)} [{_fmt(row.q25)}, {_fmt(row.q75)}] @{row.step}"


def seconds_per_step(run: RunData, label: str) -> float | None:
    """elapsed_s at the method's last traced step divided by that step."""
    trace = run.traces.get(label)
    if trace is None or trace.steps.size == 0:
        return None
    last = int(trace.steps.max())
    elapsed = trace.elapsed_s[trace.steps == last]
    elapsed = elapsed[np.isfinite(elapsed)]
    if last <= 0 or elapsed.size == 0:
        return None
    return float(elapsed.max()) / last


def method_stats(run: RunData, label: str, threshold: float) -> MethodStats:
    rows = run.summary.get(label) or []
    under = [r.step for r in rows if not math.isnan(r.median) and r.median < threshold]
    last = rows[-1] if rows else None
    return MethodStats(
        label=label,
        first=rows[0] if rows else None,
        middle=rows[len(rows) // 2] if rows else None,
        last=last,
        threshold_step=under[0] if under else None,
        seconds_per_step=seconds_per_step(run, label),
        n_diverged=last.n_diverged if last else 0,
        n_total=run.n_seeds(label) or (last.n_seeds if last else 0),
    )


STATS_HEADER = ["method", "first", "middle", "last", "below threshold", "ms / step", "diverged"]


def stats_row(stats: MethodStats, prefix: str = "") -> list[str]:
    per_step = "n/a" if stats.seconds_per_step is None else f"{1000 * stats.seconds_per_step:.3g}"
    return [
        prefix + stats.label,
        format_quartiles(stats.first),
        format_quartiles(stats.middle),
        format_quartiles(stats.last),
        "never" if stats.threshold_step is None else str(stats.threshold_step),
        per_step,
        f"{stats.n_diverged}/{stats.n_total}",
    ]


def stats_table(run: RunData, threshold: float, prefix: str = "") -> list[list[str]]:
    return [stats_row(method_stats(run, label, threshold), prefix) for label in run.labels]


def _describe_distribution(spec: Any, key: str = "dataset") -> str:
    """``name (k=v, ...)`` of a scenario entry named by its ``key`` (``dataset``, ``name``)."""
    if not isinstance(spec, dict):
        return str(spec) if spec is not None else "n/a"
    if "file" in spec:
        return f"file {_short(spec['file'])}"
    name = spec.get(key, "?")
    params = ", ".join(f"{k}={_short(v)}" for k, v in spec.items() if k != key and v is not None)
    return f"{_short(name)} ({params})" if params else _short(name)


def _short(value: Any, limit: int = 120) -> str:
    """``str(value)``, cut to ``limit`` characters (a value read from a file may be huge)."""
    if isinstance(value, (dict, list)):
        value = shown(value) if len(value) > 20 else value
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_seeds(seeds: Any) -> str:
    if isinstance(seeds, list):
        return _short(f"{len(seeds)}: {', '.join(str(s) for s in seeds[:40])}")
    return str(seeds) if seeds is not None else "n/a"


def scenario_table(run: RunData) -> list[list[str]]:
    """[field, value] rows: name, task, steps, seeds, then what the scenario has of manifold,
    particles n, source and target."""
    scenario = run.scenario
    rows = [
        ["name", run.name],
        ["task", run.task],
        ["steps", str(scenario.get("steps", "n/a"))],
        ["seeds", _describe_seeds(scenario.get("seeds"))],
    ]
    manifold = scenario.get("manifold")
    if manifold is not None:
        rows.append(["manifold", _describe_distribution(manifold, key="name")])
    if "n_particles" in scenario:
        rows.append(["particles n", str(scenario["n_particles"])])
    for side in ("source", "target"):
        if side in scenario:
            rows.append([side, _describe_distribution(scenario[side])])
    if isinstance(scenario.get("data"), dict):  # a dictionary run's histograms and grid
        rows.append(["data", _describe_distribution(scenario["data"])])
        grid = run.run_info.get("grid_shape")
        rows.append(["grid", " x ".join(str(g) for g in grid) if isinstance(grid, list) else "n/a"])
    targets = scenario.get("targets")
    for k, spec in enumerate(targets if isinstance(targets, list) else []):
        rows.append([f"target {k}", _describe_distribution(spec)])
    for name, _ in reference_lines(run):
        rows.append(["reference (median over seeds)", name])
    return rows


def reference_lines(run: RunData) -> list[tuple[str, float]]:
    """Reference levels a run recorded (``run.references`` of a barycentre flow): the log10 of
    their median over seeds, named for the legend."""
    recorded = run.run_info.get("references")
    if not isinstance(recorded, dict):
        return []
    named = [("free_support_barycenter", "POT free-support barycentre"),
             ("bures", "Bures barycentre (closed form)")]  # fmt: skip
    lines = []
    for key, name in named:
        values = recorded.get(key)
        values = values.get("objective") if isinstance(values, dict) else values
        try:
            median = float(np.median(np.asarray(values, dtype=float)))
        except (TypeError, ValueError):
            continue
        if np.isfinite(median) and median > 0:
            lines.append((f"{name}: {median:.3g}", float(np.log10(median))))
    return lines


def unfinished_lines(run: RunData) -> list[str]:
    """One line per method that did not finish, naming the missing steps."""
    return [p.describe() for p in progress(run) if p.missing is not None]


def missing_lines(run: RunData) -> list[str]:
    """What the run lacks, a line each: the steps of each method that did not finish, then
    the damage read past (``RunData.warnings``: rows dropped, a summary recomputed)."""
    return unfinished_lines(run) + run.warnings


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header))] + [line(r) for r in rows])
