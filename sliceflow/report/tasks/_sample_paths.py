"""samples.<fmt> and flow_matching.gif of a flow-matching run, from particles.npz only.

A snapshot of a flow-matching run holds, per coupling and seed, the paths of the first ``show``
evaluation sources under a 100-step Euler integration of the learned flow (every 4th state: t =
0, 0.04, ..., 1). The last completed snapshot is drawn: 2-D samples as a scatter over held-out
targets (grey), vectors with an ``image_shape`` as a grid of images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData
from sliceflow.report.particles import load_particles
from sliceflow.report.style import TARGET_COLOR, method_color, new_figure, square_limits
from sliceflow.rundir import REWRITE

PANEL_IN = 2.6


@dataclass
class FlowPaths:
    """Last completed snapshot per coupling: (S, frames, n, d); held-out targets (S, m, d)."""

    paths: dict[str, np.ndarray]
    target: np.ndarray
    step: dict[str, int]
    times: list[float]
    image_shape: tuple[int, int] | None


def load_paths(run: RunData) -> FlowPaths | None:
    """The paths of each coupling's last completed snapshot (None if there is none)."""
    if not run.particles_path().exists():
        return None
    particles = load_particles(run, ndim=5)
    paths, step = {}, {}
    for label in run.labels:
        array = particles.positions.get(label)
        if array is not None and array.shape[0] > 0:
            paths[label], step[label] = array[-1], int(particles.steps[array.shape[0] - 1])
    if not paths:
        return None
    frames = {p.shape[1] for p in paths.values()}
    times = run.run_info.get("frame_times") or list(np.linspace(0, 1, max(frames)))
    if frames != {len(times)}:
        raise RunDirError(
            f"{run.particles_path()}: paths of {'/'.join(map(str, sorted(frames)))} frames, but "
            f"scenario.yaml's run.frame_times has {len(times)} times; {REWRITE}"
        )
    evaluation = run.scenario.get("evaluation") or {}
    shape = evaluation.get("image_shape") if isinstance(evaluation, dict) else None
    image_shape = None
    if isinstance(shape, list) and len(shape) == 2:
        image_shape = (int(shape[0]), int(shape[1]))
    if image_shape and math.prod(image_shape) != particles.target.shape[-1]:
        image_shape = None
    return FlowPaths(paths, particles.target, step, [float(t) for t in times], image_shape)


def _seed(paths: FlowPaths, seed_index: int) -> int:
    return min(max(seed_index, 0), paths.target.shape[0] - 1)


def image_grid(vectors: np.ndarray, shape: tuple[int, int], columns: int) -> np.ndarray:
    """Vectors (n, h*w) in [-1, 1] tiled into one image, one pixel of padding: (H, W)."""
    h, w = shape
    rows = -(-len(vectors) // columns)
    grid = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1), -1.0)
    for i, vector in enumerate(vectors):
        r, c = divmod(i, columns)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = (
            vector.reshape(h, w)
        )
    return np.clip(grid, -1, 1)


def _panels(paths: FlowPaths, seed: int, frame: int):
    """(title, points (n, d), colour) per panel: the couplings, then real samples."""
    panels = [(label, p[seed, frame], method_color(i)) for i, (label, p) in
              enumerate(paths.paths.items())]  # fmt: skip
    n = next(iter(paths.paths.values())).shape[2]
    return panels + [("held-out samples", paths.target[seed][:n], "0.3")]


def _draw(ax, paths: FlowPaths, points: np.ndarray, colour, seed: int, limits) -> object:
    ax.set_xticks([])
    ax.set_yticks([])
    if paths.image_shape is not None:
        columns = max(int(math.ceil(math.sqrt(len(points)))), 1)
        return ax.imshow(image_grid(points, paths.image_shape, columns), cmap="gray_r",
                         vmin=-1, vmax=1, interpolation="nearest")  # fmt: skip
    target = paths.target[seed]
    ax.scatter(target[:, 0], target[:, 1], s=2, c=TARGET_COLOR, linewidths=0)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal", adjustable="box")
    return ax.scatter(points[:, 0], points[:, 1], s=3, c=colour, linewidths=0)


def _layout(paths: FlowPaths, seed: int, frame: int, title: str):
    panels = _panels(paths, seed, frame)
    figure = new_figure(PANEL_IN * len(panels), PANEL_IN + 0.6)
    every = [p[seed] for p in paths.paths.values()]  # (frames, n, d) each
    limits = square_limits(paths.target[seed], *every)
    artists = []
    for i, (name, points, colour) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        artists.append(_draw(ax, paths, points, colour, seed, limits))
        ax.set_title(name, fontsize=10)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (PANEL_IN + 0.6)))
    return figure, artists


def samples_figure(run: RunData, paths: FlowPaths, seed_index: int):
    """Samples at t = 1 (100 Euler steps) of each coupling next to held-out samples."""
    seed = _seed(paths, seed_index)
    steps = sorted(set(paths.step.values()))
    title = (f"{run.name}: generated samples (100 Euler steps), seed index {seed}, training "
             f"step {'/'.join(str(s) for s in steps)}")  # fmt: skip
    figure, _ = _layout(paths, seed, -1, title)
    return figure


def flow_gif(run: RunData, paths: FlowPaths, options, figures: list):
    """flow_matching.gif: every coupling's samples moving from t = 0 to 1 along its flow."""
    from sliceflow.report.document import EmbeddedFigure
    from sliceflow.report.gif import canvas_image, write_gif

    seed = _seed(paths, options.gif_seed)
    frames = len(paths.times)
    chosen = np.unique(np.round(np.linspace(0, frames - 1, min(options.gif_frames, frames))))
    figure, artists = _layout(paths, seed, 0, "")
    images = []
    for k in chosen.astype(int):
        for (_, points, _), artist in zip(_panels(paths, seed, k), artists, strict=True):
            if paths.image_shape is not None:
                columns = max(int(math.ceil(math.sqrt(len(points)))), 1)
                artist.set_data(image_grid(points, paths.image_shape, columns))
            else:
                artist.set_offsets(points[:, :2])
        figure.suptitle(f"{run.name}: samples along the learned flow, t = {paths.times[k]:.2f}",
                        fontsize=11)  # fmt: skip
        figure.canvas.draw()
        images.append(canvas_image(figure))
    images += [images[-1]] * max(int(options.gif_fps), 1)  # rest a second on the samples
    path = write_gif(images, run.run_dir / "flow_matching.gif", options.gif_fps)
    figures.append(EmbeddedFigure("samples along the learned flow", path.name,
                                  path.read_bytes(), "image/gif"))  # fmt: skip
    return path
