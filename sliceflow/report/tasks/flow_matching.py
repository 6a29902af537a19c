"""Figures and tables of a flow-matching run (``task: flow_matching``), from its files only.

- ``sampling.<fmt>``: log10 W2^2 of generated against held-out samples versus the number of
  function evaluations, one curve per coupling over the Euler step counts, Dormand-Prince as a
  marker at its NFE (the shape of the DGSWP paper's Table 1 / Fig. 6), median and quartiles
  over seeds; the dashed line is the W2^2 between held-out and training samples.
- ``samples.<fmt>`` and ``flow_matching.gif``: see :mod:`sliceflow.report.tasks._sample_paths`.
- a table for report.md/html: per coupling and solver, median [q25, q75] of W2^2 and the NFE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sliceflow.report.io import RunData, task_table
from sliceflow.report.tasks import register_report
from sliceflow.report.tasks.base import SaveStatic, Section, TaskReport
from sliceflow.rundir import OutputSettings

SAMPLING_FILE = "sampling.csv"
SAMPLING_FIELDS = [("method", "method"), ("seed", "seed"), ("solver", "name"), ("steps", "count"),
                   ("nfe", "count"), ("w2sq", "float")]  # fmt: skip


@dataclass
class SolverScores:
    """One coupling and solver over the seeds: (S,) arrays."""

    solver: str  # "euler" or "dopri5"
    steps: np.ndarray
    nfe: np.ndarray
    w2sq: np.ndarray

    @property
    def name(self) -> str:
        return f"Euler {int(self.steps[0])}" if self.solver == "euler" else "Dormand-Prince"


def read_sampling(run: RunData) -> dict[str, list[SolverScores]]:
    """sampling.csv per coupling label (in run order): Euler by step count, then dopri5."""
    groups: dict[str, dict[tuple, list]] = {}
    rows = task_table(run, SAMPLING_FILE, SAMPLING_FIELDS, 4, _solver_problem)
    for method, _, solver, steps, nfe, w2sq in rows or []:
        key = (solver, steps if solver == "euler" else 0)
        groups.setdefault(method, {}).setdefault(key, []).append((steps, nfe, w2sq))
    result = {}
    for label in [lb for lb in run.labels if lb in groups] + sorted(set(groups) - set(run.labels)):
        keys = sorted(groups[label], key=lambda k: (k[0] != "euler", k[1]))
        columns = [zip(*groups[label][key], strict=True) for key in keys]  # steps, nfe, w2sq
        result[label] = [
            SolverScores(key[0], *(np.array(c, dtype=float) for c in values))
            for key, values in zip(keys, columns, strict=True)
        ]
    return result


def _solver_problem(values: tuple) -> str | None:
    return None if values[2] in ("euler", "dopri5") else f"solver {values[2]!r:.40}"


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (np.nan, np.nan, np.nan)
    q25, median, q75 = np.percentile(finite, [25, 50, 75])
    return float(q25), float(median), float(q75)


def floor_w2sq(run: RunData) -> float | None:
    """Median W2^2 between held-out and training samples (what real samples score)."""
    floor = run.run_info.get("sampling_floor_w2sq")
    try:
        return float(np.median(np.asarray(floor, dtype=float))) if floor else None
    except (TypeError, ValueError):
        return None


def sampling_figure(run: RunData, scores: dict[str, list[SolverScores]]):
    """log10 W2^2 against NFE: Euler curves with quartile bands, Dormand-Prince markers."""
    from sliceflow.report.style import method_color, new_figure

    figure = new_figure(7.2, 4.6)
    ax = figure.add_subplot(1, 1, 1)
    for label, solvers in scores.items():
        color = method_color(run.labels.index(label) if label in run.labels else 0)
        euler = [s for s in solvers if s.solver == "euler"]
        if euler:
            nfe = np.array([s.steps[0] for s in euler])
            q = np.array([_quartiles(np.log10(np.maximum(s.w2sq, 1e-300))) for s in euler])
            ax.fill_between(nfe, q[:, 0], q[:, 2], color=color, alpha=0.2, linewidth=0)
            ax.plot(nfe, q[:, 1], "o-", color=color, linewidth=2, markersize=4, label=label)
        for adaptive in (s for s in solvers if s.solver == "dopri5"):
            x25, x50, x75 = _quartiles(adaptive.nfe)
            y25, y50, y75 = _quartiles(np.log10(np.maximum(adaptive.w2sq, 1e-300)))
            ax.errorbar([x50], [y50], xerr=[[x50 - x25], [x75 - x50]],
                        yerr=[[y50 - y25], [y75 - y50]], fmt="D", color=color, markersize=7,
                        markeredgecolor="black", capsize=3)  # fmt: skip
    floor = floor_w2sq(run)
    if floor is not None and floor > 0:
        ax.axhline(np.log10(floor), color="0.4", linestyle="--", linewidth=1,
                   label="held-out vs training samples")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("function evaluations (Euler steps; diamonds: Dormand-Prince, its NFE)")
    ax.set_ylabel(r"log10 $W_2^2$(generated, held-out)")
    ax.set_title(f"{run.name}: sample quality against sampling cost (median, quartiles)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    figure.tight_layout()
    return figure


def sampling_table(scores: dict[str, list[SolverScores]]) -> tuple[list[str], list[list[str]]]:
    """Rows for the report: coupling, solver, NFE (median), W2^2 median [q25, q75]."""
    header = ["coupling", "solver", "NFE (median)", "W2^2 median [q25, q75]"]
    rows = []
    for label, solvers in scores.items():
        for s in solvers:
            q25, median, q75 = _quartiles(s.w2sq)
            nfe = _quartiles(s.nfe)[1]
            rows.append([label, s.name, f"{nfe:.1f}" if s.solver == "dopri5" else f"{nfe:.0f}",
                         f"{median:.4g} [{q25:.4g}, {q75:.4g}]"])  # fmt: skip
    return header, rows


@register_report("flow_matching")
class FlowMatchingReport(TaskReport):
    """A flow-matching run: sampling scores, generated samples and the learned flow as a GIF."""

    def render(
        self, run: RunData, options: OutputSettings, figures: list, static: SaveStatic
    ) -> list[Path]:
        """sampling.<fmt>, samples.<fmt> and (if enabled) flow_matching.gif."""
        from sliceflow.report.tasks._sample_paths import (
            flow_gif,
            load_paths,
            samples_figure,
        )

        scores = read_sampling(run)
        if scores:
            static(sampling_figure(run, scores), "W2^2 against function evaluations", "sampling")
        paths = load_paths(run)
        if paths is None:
            return []
        static(samples_figure(run, paths, options.gif_seed), "generated samples", "samples")
        if not options.gif:
            return []
        return [flow_gif(run, paths, options, figures)]

    def sections(self, run: RunData) -> list[Section]:
        """Extra tables of report.md/html: the sampling table, if the run reached its last step."""
        scores = read_sampling(run)
        if not scores:
            return []
        floor = floor_w2sq(run)
        title = "Sampling: exact W2^2 of generated against held-out samples"
        if floor is not None:
            title += f" (held-out against training samples: {floor:.4g})"
        header, rows = sampling_table(scores)
        return [(title, header, rows)]
