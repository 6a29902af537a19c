"""Figures of a dictionary-learning run (``task: dictionary``): atoms.<fmt>, reconstructions.<fmt>,
weights.<fmt> and atoms.gif (the atoms forming over the epochs), for the seed ``gif_seed``.

Read from particles.npz (atoms and the first reconstructions at the snapshot steps, the data, the
true atoms of a synthetic set) and weights.csv; nothing is recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sliceflow import rundir
from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, progress, task_table
from sliceflow.report.style import method_color, new_figure
from sliceflow.report.tasks import register_report
from sliceflow.report.tasks.base import SaveStatic, TaskReport
from sliceflow.rundir import OutputSettings

WEIGHTS_FILE = "weights.csv"
WEIGHT_FIELDS = [("method", "method"), ("seed", "seed"), ("step", "step"), ("datum", "count"),
                 ("atom", "count"), ("weight", "float")]  # fmt: skip
MAX_WEIGHT_ROWS = 60  # data shown in weights.<fmt>


@dataclass
class Dictionary:
    """What the figures need, for one seed: per method its atoms at each completed snapshot."""

    steps: np.ndarray  # (T,)
    atoms: dict[str, np.ndarray]  # label -> (T_label, K, n)
    shown: dict[str, np.ndarray]  # label -> (n_shown, n) reconstructions at the last snapshot
    data: np.ndarray  # (N, n)
    true_atoms: np.ndarray | None  # (K_true, n)
    grid_shape: tuple[int, ...]
    seed: int

    @property
    def one_dimensional(self) -> bool:
        return len(self.grid_shape) == 1


def load_dictionary(run: RunData, seed_index: int) -> Dictionary:
    """particles.npz of a dictionary run, for one seed; RunDirError (one line) if damaged."""
    path = run.particles_path()
    arrays = rundir.read_npz(path) if path.exists() else {}
    info = run.run_info
    try:
        steps, data = arrays["steps"].astype(int), arrays["data"]  # (T,), (S, N, n)
        seeds = arrays.get("seeds", np.arange(data.shape[0]))
        grid_shape = tuple(int(s) for s in info["grid_shape"])
        n_shown, n_atoms = int(info["n_shown"]), dict(info["n_atoms"])
        if data.ndim != 3 or steps.ndim != 1 or data.shape[2] != math.prod(grid_shape) or (
                len(grid_shape) > 1 and math.prod(grid_shape[:2]) != data.shape[2]):  # fmt: skip
            raise ValueError(f"data of shape {data.shape} for a grid of {grid_shape}")
        if not 0 <= seed_index < data.shape[0]:
            raise RunDirError(f"gif_seed {seed_index} is out of range: the run has "
                              f"{data.shape[0]} seeds; use 0..{data.shape[0] - 1}")  # fmt: skip
        done = {p.label: p.completed for p in progress(run)}
        atoms, shown = {}, {}
        for label in run.labels:
            if label not in arrays:
                continue
            array = arrays[label][: steps.size, seed_index]  # (T, width + shown, n)
            width = array.shape[1] - n_shown
            if array.ndim != 3 or array.shape[2] != data.shape[2] or width < n_atoms[label]:
                raise ValueError(f"{label!r} has shape {arrays[label].shape}")
            reached = steps[: array.shape[0]] <= (done.get(label) or 0)
            keep = reached & np.isfinite(array[:, width:]).all(axis=(1, 2))
            last = int(np.nonzero(keep)[0].max()) + 1 if keep.any() else 0
            if last:
                atoms[label] = array[:last, : int(n_atoms[label])]
                shown[label] = array[last - 1, width:]
        true = arrays.get("true_atoms")
        if true is not None and (true.ndim != 3 or true.shape[2] != data.shape[2]):
            raise ValueError(f"true_atoms of shape {true.shape}")
        return Dictionary(steps, atoms, shown, data[seed_index],
                          None if true is None else true[seed_index], grid_shape,
                          int(seeds[seed_index]))  # fmt: skip
    except (KeyError, TypeError, ValueError, IndexError) as error:
        if isinstance(error, RunDirError):
            raise
        raise RunDirError(
            f"{path}: not the arrays of a dictionary run ({error}); {rundir.REWRITE}"
        ) from None


def _draw_atoms(axes_row, atoms: np.ndarray, found: Dictionary, color: str, top: float) -> list:
    """Atoms (K, n) into a row of axes: curves on a 1-D grid, images on a 2-D one."""
    artists = []
    if found.one_dimensional:
        ax = axes_row[0]
        if found.true_atoms is not None:
            for atom in found.true_atoms:
                ax.plot(atom, color="black", linestyle="--", linewidth=1.0)
        for k, atom in enumerate(atoms):
            artists += ax.plot(atom, color=method_color(k + 1), linewidth=1.8)
        ax.set_ylim(0, top)
        return artists
    for ax, atom in zip(axes_row, atoms, strict=False):
        artists.append(ax.imshow(atom.reshape(found.grid_shape[:2]), cmap="Greys"))
        ax.set_xticks([])
        ax.set_yticks([])
    return artists


def _top(arrays: list[np.ndarray]) -> float:
    """The top of the value axis: 1.1 times the largest finite value (1 if there is none)."""
    finite = [a[np.isfinite(a)] for a in arrays]
    top = 1.1 * max((float(f.max()) for f in finite if f.size), default=0.0)
    return top if top > 0 else 1.0


def _rows_figure(found: Dictionary, labels: list[str], width: float, height: float):
    """One row per method: a single plot (1-D grid) or one image panel per atom (2-D grid)."""
    if found.one_dimensional:
        figure = new_figure(width, height * len(labels))
        return figure, figure.subplots(len(labels), 1, squeeze=False)
    columns = max(found.atoms[lb].shape[1] for lb in labels)
    figure = new_figure(1.1 * columns + 1, 1.4 * len(labels))
    axes = figure.subplots(len(labels), columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return figure, axes


def atoms_figure(found: Dictionary):
    """One row per method: its atoms at the last snapshot (1-D: true atoms dashed)."""
    labels = list(found.atoms)
    figure, axes = _rows_figure(found, labels, 8.0, 2.4)
    top = _top([found.atoms[lb][-1] for lb in labels] + [
        found.true_atoms if found.true_atoms is not None else np.zeros(0)])  # fmt: skip
    for row, label in enumerate(labels):
        atoms = found.atoms[label][-1]
        _draw_atoms(axes[row], atoms, found, method_color(row), top)
        step = int(found.steps[found.atoms[label].shape[0] - 1])
        axes[row][0].set_title(
            f"{label}: {len(atoms)} atoms, epoch {step}", fontsize=10, loc="left"
        )
    figure.tight_layout()
    return figure


def reconstructions_figure(found: Dictionary):
    """The first data (grey) next to each method's reconstruction of them."""
    labels = list(found.shown)
    count = next(iter(found.shown.values())).shape[0]
    if found.one_dimensional:
        columns = min(count, 4)
        rows = -(-count // columns)
        figure = new_figure(3.0 * columns, 2.0 * rows)
        axes = figure.subplots(rows, columns, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= count:
                ax.set_axis_off()
                continue
            ax.fill_between(np.arange(found.data.shape[1]), found.data[i], color="#cccccc")
            for j, label in enumerate(labels):
                ax.plot(found.shown[label][i], color=method_color(j), label=label, linewidth=1.4)
            ax.set_title(f"datum {i}", fontsize=9)
            ax.tick_params(labelsize=7)
        axes.flat[0].legend(fontsize=7)
    else:
        figure = new_figure(1.0 * count + 1.2, 1.1 * (1 + len(labels)))
        axes = figure.subplots(1 + len(labels), count, squeeze=False)
        rows = [("data", found.data[:count])] + [(lb, found.shown[lb]) for lb in labels]
        for r, (name, images) in enumerate(rows):
            for c in range(count):
                ax = axes[r][c]
                ax.imshow(images[c].reshape(found.grid_shape[:2]), cmap="Greys")
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r][0].set_ylabel(name, fontsize=9)
    figure.tight_layout()
    return figure


def read_weights(run: RunData, seed: int) -> dict[str, np.ndarray]:
    """weights.csv of one seed: label -> (N, K) at the last recorded step ({} if absent)."""
    path = run.run_dir / WEIGHTS_FILE
    rows = task_table(run, WEIGHTS_FILE, WEIGHT_FIELDS, 5)
    found: dict[str, dict[tuple[int, int], float]] = {}
    for method, row_seed, _, datum, atom, weight in rows or []:  # in step order: the last wins
        if row_seed == seed:
            found.setdefault(method, {})[(datum, atom)] = weight
    weights = {}
    for label, cells in found.items():
        N, K = (max(i for i, _ in cells) + 1), (max(k for _, k in cells) + 1)
        if N * K > len(cells):
            raise RunDirError(f"{path}: method {label!r} has {len(cells)} weights for {N} data x "
                              f"{K} atoms; {rundir.REWRITE}")  # fmt: skip
        table = np.full((N, K), np.nan)
        for (i, k), value in cells.items():
            table[i, k] = value
        weights[label] = table
    return weights


def weights_figure(weights: dict[str, np.ndarray]):
    """Per method, the weights of the first data (rows) on the atoms (columns)."""
    figure = new_figure(3.2 * len(weights) + 0.8, 5.0)
    axes = figure.subplots(1, len(weights), squeeze=False)[0]
    for ax, (label, table) in zip(axes, weights.items(), strict=True):
        image = ax.imshow(table[:MAX_WEIGHT_ROWS], aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("atom")
        ax.set_ylabel("datum")
    figure.colorbar(image, ax=list(axes), fraction=0.05)
    return figure


def atoms_gif(found: Dictionary, path: Path, frames: int, fps: float, size_px: int) -> Path:
    """The atoms of every method (one row each) at evenly spaced snapshots."""
    from sliceflow.report.gif import canvas_image, write_gif
    from sliceflow.report.snapshots import column_indices

    labels = list(found.atoms)
    length = max(found.atoms[lb].shape[0] for lb in labels)
    figure, axes = _rows_figure(found, labels, 8.0, 2.4)
    scale = size_px / 480
    figure.set_size_inches(figure.get_size_inches() * scale)
    top = _top([found.atoms[lb] for lb in labels])
    images = []
    for t in column_indices(length, frames):
        for row, label in enumerate(labels):
            for ax in axes[row]:
                ax.clear()
                if not found.one_dimensional:
                    ax.set_axis_off()
            k = min(int(t), found.atoms[label].shape[0] - 1)
            _draw_atoms(axes[row], found.atoms[label][k], found, method_color(row), top)
            axes[row][0].set_title(f"{label}, epoch {int(found.steps[k])}", fontsize=9, loc="left")
        figure.tight_layout()
        figure.canvas.draw()
        images.append(canvas_image(figure))
    return write_gif(images, path, fps)


@register_report("dictionary")
class DictionaryReport(TaskReport):
    """A dictionary-learning run: learned atoms, reconstructions, weights and the atoms as a GIF."""

    def render(
        self, run: RunData, options: OutputSettings, figures: list, static: SaveStatic
    ) -> list[Path]:
        """atoms, reconstructions and weights figures, and atoms.gif if GIFs are enabled."""
        from sliceflow.report.document import EmbeddedFigure

        found = load_dictionary(run, options.gif_seed)
        if not found.atoms:
            return []
        static(atoms_figure(found), f"learned atoms (seed {found.seed})", "atoms")
        static(reconstructions_figure(found), f"data and reconstructions (seed {found.seed})",
               "reconstructions")  # fmt: skip
        weights = read_weights(run, found.seed)
        if weights:
            static(weights_figure(weights), f"learned weights (seed {found.seed})", "weights")
        if not options.gif:
            return []
        path = atoms_gif(found, run.run_dir / "atoms.gif", options.gif_frames, options.gif_fps,
                         options.gif_size_px)  # fmt: skip
        figures.append(EmbeddedFigure("atoms over the epochs", path.name, path.read_bytes(),
                                      "image/gif"))  # fmt: skip
        return [path]
