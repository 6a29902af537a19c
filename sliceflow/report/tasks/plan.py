"""Figures of a plan run (``task: plan``): plans.<format> (the DGSWP paper's Fig. 1: matched
pairs as segments, one panel per method), plan_curves.<format> (its Fig. 3: mean and +-1 std of
the plan cost over seeds, the exact W2^2 as a line) and plans.gif (the plans of one seed over the
snapshots). Read from trace.csv and particles.npz only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, progress
from sliceflow.report.particles import on_plane, snapshot_axes
from sliceflow.report.tasks import register_report
from sliceflow.report.tasks.base import SaveStatic, TaskReport
from sliceflow.rundir import REWRITE, TRACE_FILE, OutputSettings, read_npz

SOURCE_COLOR, TARGET_COLOR, PAIR_COLOR = "#1f77b4", "#d62728", "#555555"
MAX_PAIRS = 2048  # segments drawn per panel (evenly subsampled beyond)


@dataclass
class Plans:
    """particles.npz of a plan run: clouds and, per method, the plans of completed snapshots."""

    steps: np.ndarray  # (K,)
    seeds: np.ndarray  # (S,)
    source: np.ndarray  # (S, n, d)
    target: np.ndarray  # (S, n, d)
    perms: dict[str, np.ndarray]  # label -> (K_label, S, n): target index of each source point


def load_plans(run: RunData) -> Plans:
    """Read particles.npz; RunDirError (one line) if it is damaged or not a plan run's."""
    path = run.particles_path()
    arrays = read_npz(path)
    steps, source, seeds = snapshot_axes(path, arrays, "source")
    target = arrays.get("target")
    if target is None or target.shape != source.shape:
        shape = None if target is None else target.shape
        raise RunDirError(f"{path}: array 'target' (shape {shape}) is not the shape of 'source' "
                          f"{source.shape}; {REWRITE}")  # fmt: skip
    done = {p.label: p.completed for p in progress(run)}
    perms = {}
    for label in (label for label in run.labels if label in arrays):
        array = arrays[label][: steps.size]  # (K, S, n)
        if array.ndim != 3 or array.shape[1:] != source.shape[:2] or array.dtype.kind not in "iu":
            raise RunDirError(f"{path}: the plans of {label!r} are {array.dtype} of shape "
                              f"{array.shape}, not target indices of shape (snapshots, "
                              f"{source.shape[0]}, {source.shape[1]}); {REWRITE}")  # fmt: skip
        last_done = done.get(label) if done.get(label) is not None else -1
        keep = (steps[: array.shape[0]] <= last_done) & (array >= 0).reshape(
            array.shape[0], -1
        ).all(axis=1)  # fmt: skip
        count = int(np.nonzero(keep)[0].max()) + 1 if keep.any() else 0
        perms[label] = array[:count]
        if (perms[label] >= source.shape[1]).any() or (perms[label] < 0).any():
            raise RunDirError(f"{path}: the plans of {label!r} point outside the target; "
                              f"{REWRITE}")  # fmt: skip
    return Plans(steps, seeds, on_plane(source), on_plane(target), perms)


def curves_figure(run: RunData):
    """Mean and +-1 std over seeds of each method's plan cost; the exact W2^2 as a line."""
    from sliceflow.report.style import FONT, method_color, new_figure

    figure = new_figure(7.0, 4.6)
    ax = figure.add_subplot(1, 1, 1)
    exact = None
    for index, label in enumerate(run.labels):
        trace = run.traces.get(label)
        if trace is None:
            continue
        steps, mean, std = _mean_std(trace.steps, trace.values["plan_cost"])
        color = method_color(index)
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.22, linewidth=0)
        ax.plot(steps, mean, color=color, linewidth=1.8, label=label)
        if exact is None:
            exact = _mean_std(trace.steps, trace.values["w2sq"])
    if exact is not None:
        ax.plot(exact[0], exact[1], color="black", linestyle="--", linewidth=1.2,
                label=r"exact $W_2^2$")  # fmt: skip
    ax.set_xlabel("step", fontsize=FONT["axes.labelsize"])
    ax.set_ylabel(r"plan cost $\langle C, \pi \rangle$", fontsize=FONT["axes.labelsize"])
    ax.set_title(run.name, fontsize=FONT["axes.titlesize"])
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _mean_std(steps: np.ndarray, values: np.ndarray):
    """Per step: mean and std over seeds of the finite values."""
    unique = np.unique(steps)
    mean, std = np.full(unique.size, np.nan), np.full(unique.size, np.nan)
    for i, step in enumerate(unique):
        finite = values[(steps == step) & np.isfinite(values)]
        if finite.size:
            mean[i], std[i] = finite.mean(), finite.std()
    return unique, mean, std


def _cost_at(run: RunData, label: str, seed: int, step: int) -> float:
    from sliceflow.report.gif import nearest_value

    return nearest_value(run, label, seed, step)


def _panels(run: RunData, plans: Plans, labels, seed_index: int, size: tuple[float, float],
            dpi: float | None = None):  # fmt: skip
    """A figure with one panel per method: clouds drawn once, segments to be set per frame."""
    from matplotlib.collections import LineCollection

    from sliceflow.report.style import new_figure, square_limits

    source, target = plans.source[seed_index], plans.target[seed_index]
    limits = square_limits(source, target)
    figure = new_figure(size[0] * len(labels), size[1], **({"dpi": dpi} if dpi else {}))
    marker = 4.0 if source.shape[0] > 500 else 10.0
    panels = {}
    for index, label in enumerate(labels):
        ax = figure.add_subplot(1, len(labels), index + 1)
        segments = LineCollection([], colors=PAIR_COLOR, linewidths=0.4, alpha=0.5)
        ax.add_collection(segments)
        ax.scatter(source[:, 0], source[:, 1], s=marker, c=SOURCE_COLOR, linewidths=0)
        ax.scatter(target[:, 0], target[:, 1], s=marker, c=TARGET_COLOR, linewidths=0)
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
        ax.set_aspect("equal", adjustable="box")
        ax.tick_params(labelsize=7, length=2)
        panels[label] = (ax, segments)
    return figure, panels


def _set_plan(panel, plans: Plans, perm: np.ndarray, seed_index: int, title: str) -> None:
    ax, segments = panel
    source, target = plans.source[seed_index], plans.target[seed_index]
    chosen = np.linspace(0, perm.size - 1, min(perm.size, MAX_PAIRS)).astype(int)
    pairs = np.stack([source[chosen, :2], target[perm[chosen], :2]], 1)  # (P, 2, 2)
    segments.set_segments(pairs)
    ax.set_title(title, fontsize=10)


def plans_figure(run: RunData, plans: Plans, labels, seed_index: int):
    """The DGSWP paper's Fig. 1: per method, source, target and matched pairs; cost in title."""
    seed = int(plans.seeds[seed_index])
    figure, panels = _panels(run, plans, labels, seed_index, (3.6, 3.9))
    for label in labels:
        perm = plans.perms[label][-1, seed_index]
        step = int(plans.steps[plans.perms[label].shape[0] - 1])
        cost = _cost_at(run, label, seed, step)
        _set_plan(panels[label], plans, perm, seed_index, f"{label}: {cost:.4g}")
    w2 = _cost_w2(run, labels[0], seed)
    figure.suptitle(f"{run.name}, seed {seed}: plan cost <C, pi> (exact W2^2 = {w2:.4g})",
                    fontsize=11)  # fmt: skip
    figure.tight_layout()
    return figure


def _cost_w2(run: RunData, label: str, seed: int) -> float:
    trace = run.traces.get(label)
    if trace is None:
        return float("nan")
    values = trace.values["w2sq"][trace.seeds == seed]
    return float(values[0]) if values.size else float("nan")


def write_plans_gif(run: RunData, plans: Plans, labels, seed_index: int, options) -> Path:
    """plans.gif: the plans of one seed at evenly spaced snapshots, all methods side by side."""
    from sliceflow.report.gif import GIF_DPI, canvas_image, write_gif

    seed = int(plans.seeds[seed_index])
    height_in = options.gif_size_px / GIF_DPI
    figure, panels = _panels(run, plans, labels, seed_index, (height_in * 0.92, height_in),
                             dpi=GIF_DPI)  # fmt: skip
    count = max(plans.perms[label].shape[0] for label in labels)
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    frames = []
    for k in np.unique(np.linspace(0, count - 1, min(count, options.gif_frames)).astype(int)):
        step = int(plans.steps[k])
        for label in labels:
            index = min(k, plans.perms[label].shape[0] - 1)
            cost = _cost_at(run, label, seed, int(plans.steps[index]))
            perm = plans.perms[label][index, seed_index]
            _set_plan(panels[label], plans, perm, seed_index, f"{label}: {cost:.4g}")
        figure.suptitle(f"seed {seed}, step {step}", fontsize=10)
        figure.canvas.draw()
        frames.append(canvas_image(figure))
    return write_gif(frames, run.run_dir / "plans.gif", options.gif_fps)


@register_report("plan")
class PlanReport(TaskReport):
    """A plan run: the plans, the plan-cost curves and the plans over the steps as a GIF."""

    def render(
        self, run: RunData, options: OutputSettings, figures: list, static: SaveStatic
    ) -> list[Path]:
        """plans.<fmt>, plan_curves.<fmt> and, if enabled, plans.gif."""
        from sliceflow.report.document import EmbeddedFigure

        missing = [c for c in ("plan_cost", "w2sq") if c not in run.schema.values]
        if missing:
            raise RunDirError(
                f"{run.run_dir / TRACE_FILE}: no {' and no '.join(missing)} column, which a plan "
                f"run traces (scenario.yaml says run.task: plan); {REWRITE}"
            )
        written: list[Path] = []
        static(curves_figure(run), "plan cost against the step (mean, +-1 std over seeds)",
               "plan_curves")  # fmt: skip
        if not run.particles_path().exists():
            return written
        plans = load_plans(run)
        labels = [label for label in run.labels if plans.perms.get(label) is not None
                  and plans.perms[label].shape[0]]  # fmt: skip
        if not labels:
            return written
        seed_index = min(options.gif_seed, plans.seeds.size - 1)
        static(plans_figure(run, plans, labels, seed_index), "the plans at the last snapshot",
               "plans")  # fmt: skip
        if options.gif:
            path = write_plans_gif(run, plans, labels, seed_index, options)
            written.append(path)
            figures.append(EmbeddedFigure("the plans over the steps", path.name, path.read_bytes(),
                                          "image/gif"))  # fmt: skip
        return written
