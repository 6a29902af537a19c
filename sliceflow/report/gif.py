"""flow_<label>.gif (one method, one seed) and flows.gif (all methods side by side).

Written with matplotlib.animation's PillowWriter straight into the GIF file: no frame is ever
written as a loose image. Frames are particles.npz snapshots, subsampled evenly. Blitting: the
static part (axes, ticks, target) is drawn once; each frame redraws only the particles and the
titles (FuncAnimation.save would redraw the whole figure twice per frame, about 50x slower).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.animation import PillowWriter
from PIL import Image

from sliceflow.report.io import Particles, RunData
from sliceflow.report.snapshots import column_indices, domain_note, marker_size, seed_index_checked
from sliceflow.report.style import (
    TARGET_COLOR,
    method_color,
    new_figure,
    setup_domain_axes,
    square_limits,
)

GIF_DPI = 100  # pixel size = inches * 100 exactly


def gif_w2_symbol(manifold: str) -> str:
    """Plain-text W2^2 (mathtext would be re-parsed at every frame: most of the text cost)."""
    return "geodesic W\u2082\u00b2" if manifold == "poincare" else "W\u2082\u00b2"


def nearest_w2sq(run: RunData, label: str, seed: int, step: int) -> float:
    """W2^2 of one seed at the traced step nearest to ``step`` (nan if the seed has no trace)."""
    trace = run.traces.get(label)
    if trace is None:
        return float("nan")
    steps, w2sq = trace.seed_series(seed)
    if steps.size == 0:
        return float("nan")
    return float(w2sq[int(np.argmin(np.abs(steps - step)))])


def _format_w2(value: float) -> str:
    if np.isnan(value):
        return "n/a"
    return "diverged" if not np.isfinite(value) else f"{value:.3g}"


class BlitPillowWriter(PillowWriter):
    """PillowWriter that grabs the canvas as it stands (after blitting) instead of re-saving."""

    def grab_frame(self, **savefig_kwargs) -> None:
        rgba = np.asarray(self.fig.canvas.buffer_rgba())  # (H, W, 4)
        frame = Image.fromarray(rgba[..., :3].copy(), "RGB")
        # One palette for the whole GIF, from the first frame (which already shows every colour):
        # 25x faster than Pillow's per-frame median cut, and a smaller file.
        if not self._frames:
            self._palette = frame.quantize(colors=255, method=Image.Quantize.FASTOCTREE)
        self._frames.append(frame.quantize(palette=self._palette, dither=Image.Dither.NONE))


def _animate(figure, animated: list, update, frames: list[int], path: Path, fps: float) -> Path:
    """Draw the static background once, then per frame: restore it, update, draw ``animated``."""
    for artist in animated:
        artist.set_animated(True)
    tmp = path.with_name(path.stem + ".tmp.gif")  # PillowWriter picks the format by suffix
    writer = BlitPillowWriter(fps=fps)
    canvas = figure.canvas
    with writer.saving(figure, str(tmp), dpi=GIF_DPI):
        canvas.draw()
        background = canvas.copy_from_bbox(figure.bbox)
        for k in frames:
            canvas.restore_region(background)
            update(k)
            for artist in animated:
                figure.draw_artist(artist)
            writer.grab_frame()
    tmp.replace(path)
    return path


def _panel(figure, position, run, target, limits, color, heading):
    """Axes with the static target and heading; returns (moving scatter, per-frame counter)."""
    ax = figure.add_subplot(*position)
    setup_domain_axes(ax, run.manifold, limits)
    size = marker_size(target.shape[0])
    ax.scatter(target[:, 0], target[:, 1], s=size, c=TARGET_COLOR, linewidths=0)
    ax.set_title(heading, fontsize=10, pad=17)  # static: drawn once, in the background
    moving = ax.scatter([], [], s=size, c=color, linewidths=0)
    counter = ax.text(0.5, 1.012, "", transform=ax.transAxes, ha="center", va="bottom", fontsize=10)
    return moving, counter


def write_method_gif(
    run: RunData,
    particles: Particles,
    label: str,
    path: Path,
    *,
    seed_index: int,
    frames: int,
    fps: float,
    size_px: int,
) -> Path:
    """Particles of one seed moving over the target; title: step counter and current W2^2."""
    seed_index = seed_index_checked(particles, seed_index)
    seed = int(particles.seeds[seed_index])
    positions = particles.positions[label][:, seed_index]  # (K_l, n, d)
    steps = particles.snapshot_steps(label)  # (K_l,)
    chosen = column_indices(steps.size, frames)  # (F,)
    target = particles.target[seed_index]  # (m, d)
    figure = new_figure(size_px / GIF_DPI, size_px / GIF_DPI, dpi=GIF_DPI)
    figure.subplots_adjust(left=0.09, right=0.97, bottom=0.07, top=0.86)
    color = method_color(run.labels.index(label))
    head = f"{label}, seed {seed}{domain_note(particles.dim)}"
    limits = square_limits(target, positions)
    moving, counter = _panel(figure, (1, 1, 1), run, target, limits, color, head)
    total = run.total_steps if run.total_steps is not None else int(steps.max())
    symbol = gif_w2_symbol(run.manifold)

    def update(k: int) -> None:
        step = int(steps[k])
        moving.set_offsets(positions[k, :, :2])
        value = _format_w2(nearest_w2sq(run, label, seed, step))
        counter.set_text(f"step {step} / {total}   {symbol} = {value}")

    return _animate(figure, [moving, counter], update, [int(k) for k in chosen], path, fps)


def write_flows_gif(
    run: RunData,
    particles: Particles,
    path: Path,
    *,
    seed_index: int,
    frames: int,
    fps: float,
    size_px: int,
) -> Path:
    """All methods side by side on the same frames (same snapshot steps), one seed."""
    seed_index = seed_index_checked(particles, seed_index)
    seed = int(particles.seeds[seed_index])
    labels = [label for label in run.labels if particles.positions.get(label, np.zeros(0)).size]
    chosen = column_indices(particles.steps.size, frames)  # (F,)
    target = particles.target[seed_index]  # (m, d)
    limits = square_limits(target, *[particles.positions[lb][:, seed_index] for lb in labels])
    figure = new_figure(size_px * len(labels) / GIF_DPI, size_px / GIF_DPI, dpi=GIF_DPI)
    figure.subplots_adjust(left=0.05, right=0.98, bottom=0.07, top=0.82, wspace=0.15)
    figure.suptitle(f"seed {seed}{domain_note(particles.dim)}", fontsize=10, y=0.985)
    panels = [
        _panel(figure, (1, len(labels), i + 1), run, target, limits, color, label)
        for i, (label, color) in enumerate(
            (lb, method_color(run.labels.index(lb))) for lb in labels
        )
    ]
    symbol = gif_w2_symbol(run.manifold)

    def update(k: int) -> None:
        for label, (moving, counter) in zip(labels, panels, strict=True):
            available = particles.positions[label].shape[0]
            shown = min(k, available - 1)  # an interrupted method stays at its last snapshot
            step = int(particles.steps[shown])
            moving.set_offsets(particles.positions[label][shown, seed_index, :, :2])
            value = _format_w2(nearest_w2sq(run, label, seed, step))
            stopped = " (stopped)" if shown < k else ""
            counter.set_text(f"step {step}{stopped}   {symbol} = {value}")

    animated = [artist for panel in panels for artist in panel]
    return _animate(figure, animated, update, [int(k) for k in chosen], path, fps)
