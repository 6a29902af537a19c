"""Runs whose particles are the pixels of an image (e.g. colour transfer): each method's recoloured
image at full size, a side-by-side figure (source, target, results) and a GIF of the recolouring.

Read from final.npz (the recorded seed's full source, target and final particles, with the images'
grids) and particles.npz (snapshots of a strided sub-image); nothing is recomputed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sliceflow import rundir
from sliceflow.report.io import RunData, RunDirError
from sliceflow.rundir.layout import file_label


def render_images(run: RunData, options, static) -> list[Path]:
    """recolored_<label>.png per method, color_transfer.<format>, recolor_<label>.gif."""
    path = run.run_dir / rundir.FINAL_FILE
    if not path.exists():
        return []
    final = rundir.read_npz(path)
    if "source_grid" not in final:
        return []
    _check_final(final, path)
    labels = [label for label in run.labels if label in final]
    written = []
    for label in labels:
        picture = as_image(final[label], final["source_grid"], path, label)
        out = run.run_dir / f"recolored_{file_label(label)}.png"
        written.append(rundir.atomic_write_bytes(out, _png(picture)))
    static(side_by_side(run, final, labels, path), "source, target and the recoloured images",
           "color_transfer")  # fmt: skip
    if options.gif and labels:
        gif = recolor_gif(run, labels[0], options)
        written += [gif] if gif is not None else []
    return written


def _check_final(final: dict[str, np.ndarray], path: Path) -> None:
    """RunDirError unless the grids are (rows, columns), the seed one number and the images
    there (their shapes are checked against the grids when drawn)."""
    grids = [key for key in ("source_grid", "target_grid") if key in final]
    for key in grids:
        grid = final[key]
        if grid.shape != (2,) or grid.dtype.kind not in "iu" or grid.min() < 1:
            raise RunDirError(f"{path}: array '{key}' (shape {grid.shape}) is not (rows, "
                              f"columns); {rundir.REWRITE}")  # fmt: skip
    needed = ["seed", "source"] + (["target"] if "target_grid" in final else [])
    missing = [key for key in needed if key not in final]
    if missing or final["seed"].size != 1 or final["seed"].dtype.kind not in "iu":
        what = f"no '{missing[0]}' array" if missing else "array 'seed' is not one seed"
        raise RunDirError(f"{path}: {what}; {rundir.REWRITE}")


def as_image(values: np.ndarray, grid, path: Path, name: str) -> Image.Image:
    """Colours (rows * columns, 3) in [0, 1] (clipped) as an RGB image of the grid's size."""
    rows, columns = (int(v) for v in np.asarray(grid).reshape(-1)[:2])
    if values.shape != (rows * columns, 3):
        raise RunDirError(
            f"{path}: {name!r} has shape {values.shape}, not ({rows * columns}, 3) for a "
            f"{rows} x {columns} image; {rundir.REWRITE}"
        )
    pixels = np.round(255 * np.clip(np.nan_to_num(values, nan=0.0), 0, 1)).astype(np.uint8)
    return Image.fromarray(pixels.reshape(rows, columns, 3), "RGB")


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def side_by_side(run: RunData, final: dict, labels: list[str], path: Path):
    """One row of panels: the source image, the target image (if it is one), each result."""
    from sliceflow.report.style import new_figure

    panels = [("source", as_image(final["source"], final["source_grid"], path, "source"))]
    if "target_grid" in final:
        panels.append(("target", as_image(final["target"], final["target_grid"], path, "target")))
    panels += [(label, as_image(final[label], final["source_grid"], path, label))
               for label in labels]  # fmt: skip
    rows, columns = (int(v) for v in final["source_grid"])
    width = 3.2
    height = width * rows / columns
    figure = new_figure(width * len(panels), height + 0.9)
    for index, (title, picture) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), index + 1)
        ax.imshow(np.asarray(picture), interpolation="antialiased")
        ax.set_title(title, fontsize=12)
        ax.set_axis_off()
    steps = run.total_steps if run.total_steps is not None else "?"
    figure.suptitle(f"{run.name}: seed {int(final['seed'])}, after {steps} steps", fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (height + 0.9)))
    return figure


def recolor_gif(run: RunData, label: str, options) -> Path | None:
    """recolor_<label>.gif: the snapshots of one seed drawn as images (every s-th pixel row and
    column when the snapshots are cut down), enlarged to about ``gif_size_px``."""
    from sliceflow.report.gif import write_gif
    from sliceflow.report.particles import load_particles
    from sliceflow.report.snapshots import column_indices, seed_index_checked

    particles = load_particles(run)
    if particles.grid is None or label not in particles.positions:
        return None
    seed_index = seed_index_checked(particles, options.gif_seed)
    positions = particles.positions[label][:, seed_index]  # (K_l, k, 3)
    if positions.shape[0] == 0:
        return None
    rows, columns = (int(v) for v in particles.grid)
    scale = max(1, round(options.gif_size_px / max(rows, columns)))
    steps = particles.snapshot_steps(label)
    frames = []
    for k in column_indices(positions.shape[0], options.gif_frames):
        picture = as_image(positions[k], particles.grid, run.particles_path(), label)
        picture = picture.resize((columns * scale, rows * scale), Image.Resampling.NEAREST)
        ImageDraw.Draw(picture).text(
            (4, 2),
            f"{label}  step {int(steps[k])}",
            fill="white",
            stroke_width=1,
            stroke_fill="black",
        )
        frames.append(picture)
    return write_gif(frames, run.run_dir / f"recolor_{file_label(label)}.gif", options.gif_fps)
