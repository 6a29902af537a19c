"""particles.npz: snapshot steps, per-method positions (completed snapshots only), targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sliceflow.errors import RunDirError
from sliceflow.report.io import RunData, progress
from sliceflow.rundir import read_npz


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


def load_particles(run: RunData) -> Particles:
    """Read particles.npz, keeping per method only the snapshots of completed steps."""
    path = run.particles_path()
    if not path.exists():
        raise RunDirError(f"{path}: missing; re-run the scenario with snapshots enabled")
    arrays = read_npz(path)
    for key in ("steps", "target"):
        if key not in arrays:
            raise RunDirError(f"{path}: no '{key}' array; re-run the scenario to rewrite it")
    steps = arrays["steps"].astype(int)
    target = arrays["target"]
    seeds = arrays.get("seeds", np.arange(target.shape[0]))
    done = {p.label: p.completed for p in progress(run)}
    positions = {}
    for label in run.labels:
        if label not in arrays:
            continue
        array = arrays[label][: steps.size]  # (K, S, n, d)
        keep = steps[: array.shape[0]] <= (done.get(label) if done.get(label) is not None else -1)
        keep &= np.isfinite(array).reshape(array.shape[0], -1).any(axis=1)  # unwritten = NaN
        last = int(np.nonzero(keep)[0].max()) + 1 if keep.any() else 0
        positions[label] = array[:last]
    grid = arrays.get("particle_grid")
    return Particles(steps=steps, positions=positions, target=target, seeds=seeds, grid=grid)
