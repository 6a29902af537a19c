"""particles.npz: snapshot steps, per-method positions (completed snapshots only), targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, progress
from sliceflow.rundir import REWRITE, read_npz


@dataclass
class Particles:
    """particles.npz: snapshot steps, per-method positions, targets and seed values."""

    steps: np.ndarray  # (K,)
    positions: dict[str, np.ndarray]  # label -> (K_label, S, n, d), only completed snapshots
    target: np.ndarray  # (S, m, d)
    seeds: np.ndarray  # (S,)
    grid: np.ndarray | None = None  # (rows, columns) when the kept particles form an image

    @property
    def dim(self) -> int:
        return int(self.target.shape[-1])

    def snapshot_steps(self, label: str) -> np.ndarray:
        return self.steps[: self.positions[label].shape[0]]


def load_particles(run: RunData, ndim: int = 4) -> Particles:
    """Read particles.npz, keeping per method only the snapshots of completed steps.

    Parameters
    ----------
    run : RunData
        The run.
    ndim : int
        Dimensions of a method's snapshots: 4 for positions (K, S, n, d), 5 for paths
        (K, S, frames, n, d).

    Returns
    -------
    Particles
        Snapshots of d = 1 get a zero second coordinate (drawn on a line).

    Raises
    ------
    RunDirError
        One line naming the array whose shape or values do not fit the others.
    """
    path = run.particles_path()
    if not path.exists():
        raise RunDirError(f"{path}: missing; re-run the scenario with snapshots enabled")
    arrays = read_npz(path)
    steps, target, seeds = snapshot_axes(path, arrays, "target")
    done = {p.label: p.completed for p in progress(run)}
    positions = {}
    for label in run.labels:
        if label not in arrays:
            continue
        array = arrays[label]
        if array.ndim != ndim or array.shape[1] != target.shape[0] or (
                array.shape[-1] != target.shape[-1]):  # fmt: skip
            raise RunDirError(
                f"{path}: array {label!r} has shape {array.shape}, not (snapshots, "
                f"{target.shape[0]}, ..., {target.shape[-1]}) in {ndim} dimensions; {REWRITE}"
            )
        array = array[: steps.size]  # (K, S, n, d)
        keep = steps[: array.shape[0]] <= (done.get(label) if done.get(label) is not None else -1)
        keep &= np.isfinite(array).reshape(array.shape[0], -1).any(axis=1)  # unwritten = NaN
        last = int(np.nonzero(keep)[0].max()) + 1 if keep.any() else 0
        positions[label] = on_plane(array[:last])
    grid = arrays.get("particle_grid")
    if grid is not None and (grid.shape != (2,) or grid.dtype.kind not in "iu" or grid.min() < 1):
        raise RunDirError(f"{path}: particle_grid is {grid.tolist()!r:.60}, not (rows, columns); "
                          f"{REWRITE}")  # fmt: skip
    return Particles(steps=steps, positions=positions, target=on_plane(target), seeds=seeds,
                     grid=grid)  # fmt: skip


def snapshot_axes(path: Path, arrays: dict[str, np.ndarray], cloud: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """``steps`` (K,) whole numbers >= 0, the ``cloud`` array (S, m, d) and ``seeds`` (S,)
    (0..S-1 if absent) of a particles.npz; RunDirError naming the array that is wrong."""
    for key in ("steps", cloud):
        if key not in arrays:
            raise RunDirError(f"{path}: no '{key}' array; {REWRITE}")
    steps, points, seeds = arrays["steps"], arrays[cloud], arrays.get("seeds")
    if steps.ndim != 1 or steps.dtype.kind not in "iu" or (steps < 0).any():
        wrong = ("steps", "a list of whole steps >= 0")
    elif points.ndim != 3 or 0 in points.shape:
        wrong = (cloud, "points (seeds, n, d)")
    elif seeds is not None and (seeds.shape != points.shape[:1] or seeds.dtype.kind not in "iu"):
        wrong = ("seeds", f"one whole number per row of '{cloud}'")
    else:
        seeds = np.arange(points.shape[0]) if seeds is None else seeds
        return steps.astype(int), points, seeds
    key, expected = wrong
    raise RunDirError(
        f"{path}: array '{key}' (shape {arrays[key].shape}) is not {expected}; {REWRITE}"
    )


def on_plane(points: np.ndarray) -> np.ndarray:
    """Points of d = 1 with a zero second coordinate, so they are drawn on a line; others as
    they are."""
    if points.shape[-1] != 1:
        return points
    return np.concatenate([points, np.zeros_like(points)], axis=-1)
