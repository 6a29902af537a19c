"""snapshots.png: one row per method, columns at chosen steps, target in a light colour."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sliceflow.report.io import RunData, RunDirError
from sliceflow.report.particles import Particles
from sliceflow.report.style import (
    TARGET_COLOR,
    method_color,
    new_figure,
    setup_domain_axes,
    square_limits,
)


def column_indices(n_snapshots: int, n_columns: int) -> np.ndarray:
    """Evenly spaced snapshot indices, first and last included, no repeats."""
    if n_snapshots <= 0:
        return np.zeros(0, dtype=int)
    # More columns than snapshots give every snapshot once: no need to space out more points
    # (a --gif-frames of 10^9 would take gigabytes).
    count = min(n_columns, n_snapshots)
    return np.unique(np.round(np.linspace(0, n_snapshots - 1, count)).astype(int))


def marker_size(n_points: int) -> float:
    """Scatter marker area (points^2) that stays readable from 50 to 10,000 particles."""
    return float(np.clip(1500.0 / max(n_points, 1), 1.5, 28.0))


def seed_index_checked(particles: Particles, seed_index: int) -> int:
    n_seeds = int(particles.target.shape[0])
    if not 0 <= seed_index < n_seeds:
        raise RunDirError(
            f"gif seed index {seed_index} is out of range: the run has {n_seeds} seeds "
            f"(values {particles.seeds.tolist()}); pass --gif-seed between 0 and {n_seeds - 1}"
        )
    return seed_index


def domain_note(dim: int) -> str:
    return f" (coordinates 1-2 of d = {dim})" if dim > 2 else ""


def snapshots_figure(
    run: RunData, particles: Particles, *, seed_index: int, n_columns: int = 5
) -> Figure:
    """Grid of particle positions of seed ``seed_index``: rows = methods, columns = steps."""
    seed_index = seed_index_checked(particles, seed_index)
    labels = [label for label in run.labels if label in particles.positions]
    columns = column_indices(particles.steps.size, n_columns)  # (C,)
    target = particles.target[seed_index]  # (m, d)
    shown = [particles.positions[label][:, seed_index] for label in labels]  # [(K_l, n, d)]
    limits = square_limits(target, *[p for p in shown if p.size])
    panel = 2.4
    height = panel * max(len(labels), 1) + 0.6
    figure = new_figure(panel * max(len(columns), 1) + 0.8, height)
    size = marker_size(target.shape[0])
    for row, label in enumerate(labels):
        positions = particles.positions[label]  # (K_l, S, n, d)
        color = method_color(run.labels.index(label))
        for col, k in enumerate(columns):
            ax = figure.add_subplot(len(labels), len(columns), row * len(columns) + col + 1)
            setup_domain_axes(ax, run.drawing, limits)
            ax.set_xticks([])  # tick labels on every panel cost most of the drawing time
            ax.set_yticks([])
            ax.scatter(target[:, 0], target[:, 1], s=size, c=TARGET_COLOR, linewidths=0)
            if k < positions.shape[0]:
                x = positions[k, seed_index]  # (n, d)
                ax.scatter(x[:, 0], x[:, 1], s=size, c=color, linewidths=0)
            else:
                ax.text(0.5, 0.5, "not reached", ha="center", va="center", transform=ax.transAxes)
            if row == 0:
                ax.set_title(f"t = {int(particles.steps[k])}", fontsize=12)
            if col == 0:
                ax.set_ylabel(label, fontsize=12)
    seed = int(particles.seeds[seed_index])
    figure.suptitle(
        f"{run.name}: particles of seed {seed} over the target (grey) at flow step t"
        + domain_note(particles.dim),
        fontsize=12,
    )
    # Keep the top 0.45 inch for the suptitle: tight_layout alone lets it overlap the titles.
    figure.tight_layout(h_pad=0.6, w_pad=0.6, rect=(0, 0, 1, 1 - 0.45 / height))
    return figure
