"""flow_<label>.gif (one method, one seed) and flows.gif (all methods side by side).

Written with matplotlib.animation's PillowWriter straight into the GIF file: no frame is ever
written as a loose image. Frames are particles.npz snapshots, subsampled evenly. Blitting: axes,
ticks and target are drawn once and each frame redraws only the particles and the counter (where
FuncAnimation.save redraws the whole figure twice per frame); flows.gif is assembled from the
per-method frames (all panels share the same axis limits) instead of drawing every panel again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.animation import PillowWriter
from PIL import Image

from sliceflow.report.io import RunData
from sliceflow.report.particles import Particles
from sliceflow.report.snapshots import column_indices, domain_note, marker_size, seed_index_checked
from sliceflow.report.style import (
    TARGET_COLOR,
    method_color,
    new_figure,
    setup_domain_axes,
    square_limits,
)
from sliceflow.rundir.writers import write_error

GIF_DPI = 100  # pixel size = inches * 100 exactly
FLOWS_COLUMNS = 4  # flows.gif: methods side by side, wrapped into rows of at most 4 panels


def gif_quantity(run: RunData) -> str:
    """Plain-text name of the traced value (mathtext would be re-parsed at every frame)."""
    return run.schema.description.replace("W2^2", "W\u2082\u00b2")


def nearest_value(run: RunData, label: str, seed: int, step: int) -> float:
    """Traced value of one seed at the traced step nearest to ``step`` (nan if none)."""
    trace = run.traces.get(label)
    if trace is None:
        return float("nan")
    steps, values = trace.seed_series(seed)
    if steps.size == 0:
        return float("nan")
    return float(values[int(np.argmin(np.abs(steps - step)))])


def _format_w2(value: float) -> str:
    if np.isnan(value):
        return "n/a"
    return "diverged" if not np.isfinite(value) else f"{value:.3g}"


class FramePillowWriter(PillowWriter):
    """PillowWriter fed with finished RGB frames; ``grab_frame`` takes the canvas as it stands.

    One palette for the whole GIF, from the first frame (which already shows every colour),
    instead of Pillow's per-frame median cut: it is computed once, and the file is smaller.
    """

    def grab_frame(self, **savefig_kwargs) -> None:
        self.add_frame(canvas_image(self.fig))

    def add_frame(self, frame: Image.Image) -> None:
        if not self._frames:
            self._palette = frame.quantize(colors=255, method=Image.Quantize.FASTOCTREE)
        self._frames.append(frame.quantize(palette=self._palette, dither=Image.Dither.NONE))


def canvas_image(figure) -> Image.Image:
    rgba = np.asarray(figure.canvas.buffer_rgba())  # (H, W, 4)
    return Image.fromarray(rgba[..., :3].copy(), "RGB")


def write_gif(frames: list[Image.Image], path: Path, fps: float) -> Path:
    """Write frames with PillowWriter, atomically (temporary .gif + rename)."""
    width, height = frames[0].size
    sizing = new_figure(width / GIF_DPI, height / GIF_DPI, dpi=GIF_DPI)  # the writer's frame size
    tmp = path.with_name(path.stem + ".tmp.gif")  # PillowWriter picks the format by suffix
    writer = FramePillowWriter(fps=fps)
    try:
        with writer.saving(sizing, str(tmp), dpi=GIF_DPI):
            for frame in frames:
                writer.add_frame(frame)
        tmp.replace(path)
    except OSError as error:  # a full disk or a read-only folder: one line, no stray file
        tmp.unlink(missing_ok=True)
        raise write_error(path, error) from None
    return path


def panel_figure(run: RunData, target, limits, color: str, heading: str, size_px: int):
    """A square figure: static target and heading; returns (figure, moving scatter, counter).

    Text and markers scale with ``size_px`` (designed at 480 px) so small GIFs stay legible.
    """
    scale = size_px / 480
    font = max(10 * scale, 4.0)
    figure = new_figure(size_px / GIF_DPI, size_px / GIF_DPI, dpi=GIF_DPI)
    figure.subplots_adjust(left=0.09, right=0.97, bottom=0.07, top=0.86)
    ax = figure.add_subplot(1, 1, 1)
    setup_domain_axes(ax, run.drawing, limits)
    ax.tick_params(labelsize=max(8 * scale, 3.0))
    size = marker_size(target.shape[0]) * max(scale, 0.3) ** 2
    ax.scatter(target[:, 0], target[:, 1], s=size, c=TARGET_COLOR, linewidths=0)
    ax.set_title(heading, fontsize=font, pad=1.7 * font)  # static: drawn once, in the background
    moving = ax.scatter([], [], s=size, c=color, linewidths=0, animated=True)
    counter = ax.text(0.5, 1.012, "", transform=ax.transAxes, ha="center", va="bottom",
                      fontsize=font, animated=True)  # fmt: skip
    return figure, moving, counter


def render_frames(
    run: RunData, particles: Particles, label: str, indices, *, seed_index: int, limits, size_px
) -> dict[int, Image.Image]:
    """RGB frames of one method and seed at the given snapshot indices (blitted)."""
    seed = int(particles.seeds[seed_index])
    positions = particles.positions[label][:, seed_index]  # (K_l, n, d)
    steps = particles.snapshot_steps(label)  # (K_l,)
    color = method_color(run.labels.index(label))
    heading = f"{label}, seed {seed}{domain_note(particles.dim)}"
    target = particles.target[seed_index]  # (m, d)
    figure, moving, counter = panel_figure(run, target, limits, color, heading, size_px)
    total = run.total_steps if run.total_steps is not None else int(steps.max())
    symbol = gif_quantity(run)
    canvas = figure.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(figure.bbox)
    stopped = steps.size < particles.steps.size  # interrupted: its last frame says so
    frames = {}
    for k in sorted({int(i) for i in indices}):
        canvas.restore_region(background)
        moving.set_offsets(positions[k, :, :2])
        value = _format_w2(nearest_value(run, label, seed, int(steps[k])))
        note = " (stopped)" if stopped and k == steps.size - 1 else ""
        counter.set_text(f"step {int(steps[k])} / {total}{note}   {symbol} = {value}")
        figure.draw_artist(moving)
        figure.draw_artist(counter)
        frames[k] = canvas_image(figure)
    return frames


def write_gifs(
    run: RunData,
    particles: Particles,
    out_dir: Path,
    file_label,
    *,
    seed_index: int,
    frames: int,
    fps: float,
    size_px: int,
) -> list[Path]:
    """flow_<label>.gif per method with snapshots, then flows.gif (methods side by side, in rows
    of at most FLOWS_COLUMNS panels).

    A method's GIF subsamples its own snapshots; flows.gif subsamples all snapshot steps, and a
    method that stopped early (interrupted run) stays at its last snapshot.
    """
    seed_index = seed_index_checked(particles, seed_index)
    labels = [lb for lb in run.labels if lb in particles.positions]
    labels = [lb for lb in labels if particles.positions[lb].shape[0] > 0]
    if not labels:
        return []
    target = particles.target[seed_index]  # (m, d)
    limits = square_limits(target, *[particles.positions[lb][:, seed_index] for lb in labels])
    shared = column_indices(particles.steps.size, frames)  # (F,) indices for flows.gif
    paths, panels = [], {}
    for label in labels:
        available = particles.positions[label].shape[0]
        own = column_indices(available, frames)
        clamped = np.minimum(shared, available - 1)
        rendered = render_frames(run, particles, label, np.concatenate([own, clamped]),
                                 seed_index=seed_index, limits=limits, size_px=size_px)  # fmt: skip
        path = out_dir / f"flow_{file_label(label)}.gif"
        paths.append(write_gif([rendered[int(k)] for k in own], path, fps))
        panels[label] = [rendered[int(k)] for k in clamped]
    columns = min(len(labels), FLOWS_COLUMNS)
    rows = -(-len(labels) // columns)  # ceil
    combined = []
    for f in range(len(shared)):
        grid = Image.new("RGB", (size_px * columns, size_px * rows), "white")
        for i, label in enumerate(labels):
            grid.paste(panels[label][f], ((i % columns) * size_px, (i // columns) * size_px))
        combined.append(grid)
    paths.append(write_gif(combined, out_dir / "flows.gif", fps))
    return paths
