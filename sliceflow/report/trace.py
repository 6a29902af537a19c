"""trace.png (median and inter-quartile band of the log10 of the traced value against the step)
and metrics_<name>.png."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from sliceflow.report.io import RunData
from sliceflow.report.style import FONT, math_name, method_color, new_figure


@dataclass
class TraceSeries:
    """One curve: quartiles over seeds per traced step, and its diverged-seed count."""

    label: str
    steps: np.ndarray  # (K,)
    q25: np.ndarray  # (K,)
    median: np.ndarray  # (K,)
    q75: np.ndarray  # (K,)
    n_diverged: int  # at the last traced step (divergence is final)
    n_total: int  # seeds of the method

    @property
    def legend(self) -> str:
        return f"{self.label} ({self.n_diverged}/{self.n_total} diverged)"


def run_series(run: RunData, prefix: str = "") -> list[TraceSeries]:
    """The summary of every method of a run as TraceSeries (labels optionally prefixed)."""
    series = []
    for label in run.labels:
        rows = run.summary.get(label) or []
        if not rows:
            continue
        n_total = run.n_seeds(label) or rows[-1].n_seeds
        series.append(
            TraceSeries(
                label=prefix + label,
                steps=np.array([r.step for r in rows]),
                q25=np.array([r.q25 for r in rows]),
                median=np.array([r.median for r in rows]),
                q75=np.array([r.q75 for r in rows]),
                n_diverged=int(rows[-1].n_diverged),
                n_total=int(n_total),
            )
        )
    return series


def column_series(run: RunData, column: str) -> list[TraceSeries]:
    """Quartiles over seeds of log10 of another traced column (``schema.secondary``), per step,
    as TraceSeries (as the engine summarises the primary column)."""
    from sliceflow.rundir import quartiles_log10

    series = []
    for label in run.labels:
        trace = run.traces.get(label)
        if trace is None or column not in trace.values:
            continue
        steps = np.unique(trace.steps)  # (K,)
        stats = np.array(
            [quartiles_log10(trace.values[column][trace.steps == s]) for s in steps]
        )  # (K, 5) fmt: skip
        series.append(TraceSeries(label, steps, stats[:, 2], stats[:, 3], stats[:, 4],
                                  int(stats[-1, 1]), int(stats[-1, 0])))  # fmt: skip
    return series


def _draw_bands(ax, steps, q25, median, q75, color: str, label: str) -> None:
    ax.fill_between(steps, q25, q75, color=color, alpha=0.22, linewidth=0)
    ax.plot(steps, median, color=color, linewidth=2.0, label=label)


def _time_axis(ax, log_time: bool, steps_max: int) -> None:
    if log_time:
        # symlog keeps step 0 (the initial particles) on a log-scale time axis
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(0, max(steps_max, 1))
        ax.set_xlabel("flow step (log scale)")
    else:
        ax.set_xlabel("flow step")


def trace_figure(series: list[TraceSeries], *, quantity: str, log_time: bool, title: str,
                 references: list[tuple[str, float]] = ()) -> Figure:  # fmt: skip
    """Median (line) and q25-q75 band of log10 ``quantity`` over seeds against the step, one
    colour per method (``quantity`` as the run's trace schema names it, e.g. ``exact W2^2``);
    ``references``: (name, log10 value) drawn as dashed horizontal lines.

    .. math:: y_k = \\operatorname{median}_s \\log_{10} W_2^2(\\mu^s_k, \\nu^s)
    """
    figure = new_figure(9.0, 5.0)
    ax = figure.add_subplot(1, 1, 1)
    for index, item in enumerate(series):
        _draw_bands(
            ax, item.steps, item.q25, item.median, item.q75, method_color(index), item.legend
        )
    for index, (name, value) in enumerate(references):
        ax.axhline(value, color="black", linestyle=("--", ":", "-.")[index % 3], linewidth=1.2,
                   label=name)  # fmt: skip
    steps_max = max((int(s.steps.max()) for s in series if s.steps.size), default=1)
    _time_axis(ax, log_time, steps_max)
    ax.set_ylabel(r"$\log_{10}$ " + math_name(quantity))
    ax.set_title(
        title + "  (median, interquartile band over seeds)", fontsize=FONT["axes.titlesize"]
    )
    ax.xaxis.label.set_size(FONT["axes.labelsize"])
    ax.yaxis.label.set_size(FONT["axes.labelsize"])
    ax.tick_params(labelsize=FONT["xtick.labelsize"])
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11, frameon=False)
    figure.tight_layout()
    return figure


def metric_names(run: RunData) -> list[str]:
    names: list[str] = []
    for row in run.metrics:
        if row["name"] not in names:
            names.append(row["name"])
    return names


def metric_figure(run: RunData, name: str, *, log_time: bool) -> Figure:
    """Median and q25-q75 band over seeds of one extra metric (metrics.csv) against the step."""
    figure = new_figure(9.0, 5.0)
    ax = figure.add_subplot(1, 1, 1)
    all_values = []
    for index, label in enumerate(run.labels):
        rows = [r for r in run.metrics if r["name"] == name and r["method"] == label]
        if not rows:
            continue
        steps = np.array([r["step"] for r in rows])
        values = np.array([r["value"] for r in rows])
        unique = np.unique(steps)  # (K,)
        quartiles = np.full((unique.size, 3), np.nan)  # (K, 3)
        for k, step in enumerate(unique):
            finite = values[(steps == step) & np.isfinite(values)]
            if finite.size:
                quartiles[k] = np.quantile(finite, [0.25, 0.5, 0.75])
        all_values.append(quartiles[np.isfinite(quartiles)])
        _draw_bands(ax, unique, *quartiles.T[[0, 1, 2]], method_color(index), label)
    flat = np.concatenate(all_values) if all_values else np.array([])
    if flat.size and flat.min() > 0 and flat.max() / flat.min() > 100:
        ax.set_yscale("log")
    steps_max = max((r["step"] for r in run.metrics if r["name"] == name), default=1)
    _time_axis(ax, log_time, steps_max)
    ax.set_ylabel(name)
    ax.set_title(f"{run.name}: {name}  (median, interquartile band over seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11, frameon=False)
    figure.tight_layout()
    return figure
