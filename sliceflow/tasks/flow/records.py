"""What a particle-flow run records besides its loss: the traced distances (trace estimators and
their fixed draws), snapshots of bounded size, the full clouds of one seed when snapshots are
subsampled, and the predicted cost of exact traces (stopped past a budget unless ``--force``).

Fixed draws come from each seed's own streams (``Stream(seed, "trace")``, ``Stream(seed,
"snapshots")``), never from the flows' generators: choosing an estimator or a snapshot size
changes no flow, every method sees the same subsamples, and ``--resume`` draws them again
identically.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sliceflow.datasets import Stream
from sliceflow.errors import ScenarioError
from sliceflow.ot.exact import ASSIGNMENT_MAX_N
from sliceflow.rundir import TraceSchema
from sliceflow.scenario.models import SUBSAMPLE_SIZE
from sliceflow.tasks.flow.barycenter import exact_objective
from sliceflow.tasks.flow.clouds import WeightedTargets, grid_of
from sliceflow.tasks.flow.estimators import (
    ExactW2,
    PaletteW2,
    SinkhornDivergence,
    SlicedW2,
    SubsampleW2,
)
from sliceflow.tasks.flow.scenario import FlowScenario

# Stop when the exact-type solves of the traces are predicted to take longer than this.
TRACE_BUDGET_SECONDS = 600.0
# One ot.emd2 solve on the papers' starting clouds, measured on the 2-core development machine
# (benchmarks/bench_exact.py): n = 1000: 0.23 s, 2000: 1.0 s, 3000: 2.3 s, 5000: about 12 s;
# modelled as 1.0 s * (sqrt(n m) / 2000)^2.5 (an upper estimate). Exact assignment (n = m <= 100):
# about 20 us * (n / 50)^3 plus 50 us of cost matrix and overhead.
EMD_SECONDS_AT_2000, EMD_EXPONENT = 1.0, 2.5
# A Sinkhorn-divergence trace (3 log-domain problems, about 500 iterations with epsilon-scaling,
# tol 1e-4): about 1.5e-4 s per entry of the n x m cost, measured on 500-point clouds.
SINKHORN_SECONDS_PER_ENTRY = 1.5e-4


def exact_solve_seconds(n: int, m: int, solver: str = "auto") -> float:
    """Predicted seconds of one exact W2^2 solve between clouds of n and m points."""
    if n == m and (solver == "assignment" or (solver == "auto" and n <= ASSIGNMENT_MAX_N)):
        return 5e-5 + 2e-5 * (n / 50) ** 3
    return 1e-4 + EMD_SECONDS_AT_2000 * (math.sqrt(n * m) / 2000) ** EMD_EXPONENT


def traced_steps(steps: int, every: int) -> int:
    """Number of traced steps: 0, every, 2 every, ... and the last step."""
    return steps // every + 1 + (1 if steps % every else 0)


def trace_cost(scenario: FlowScenario, every: int | None = None) -> tuple[float, int, int, int]:
    """(predicted seconds, solves, n, m) of the exact-type solves of the traces (n, m: the
    largest), tracing every ``every`` steps (default: the scenario's)."""
    trace, names = scenario.trace, scenario.trace.estimators
    n = scenario.n_particles
    specs = [scenario.target] if scenario.target is not None else scenario.targets
    sizes = []  # (n, m, seconds) of each solve of one traced step and seed
    if "exact" in names:  # one solve per target of a barycentre flow
        for spec in specs:
            m = spec.n_samples or n
            sizes.append((n, m, exact_solve_seconds(n, m, trace.solver)))
    m = specs[0].n_samples or n
    if "subsample" in names:
        k = min(trace.size or SUBSAMPLE_SIZE, n, m)
        sizes.append((k, k, exact_solve_seconds(k, k, trace.solver)))
    if "kmeans" in names:
        k = trace.clusters
        sizes.append((k, k, exact_solve_seconds(k, k, trace.solver)))
    if "sinkhorn" in names:
        a, b = (n, m) if trace.size is None else (min(trace.size, n), min(trace.size, m))
        sizes.append((a, b, SINKHORN_SECONDS_PER_ENTRY * a * b))
    solves = traced_steps(scenario.steps, every or trace.every) * len(scenario.seeds)
    solves *= len(scenario.methods)
    seconds = sum(size[2] for size in sizes) * solves
    a, b, _ = max(sizes, default=(0, 0, 0), key=lambda s: s[2])
    return seconds, solves, a, b


def check_trace_budget(scenario: FlowScenario) -> None:
    """ScenarioError (one line) if the exact traces are predicted to exceed the budget."""
    seconds, solves, n, m = trace_cost(scenario)
    if seconds <= TRACE_BUDGET_SECONDS:
        return
    every = scenario.trace.every * math.ceil(seconds / TRACE_BUDGET_SECONDS)
    sparser = ""
    if every < scenario.steps and trace_cost(scenario, every)[0] <= TRACE_BUDGET_SECONDS:
        sparser = f"trace less often with trace.every (e.g. {every}), "
    raise ScenarioError(
        f"the traces would take about {_duration(seconds)} ({solves:,} solves of "
        f"{n:,} x {m:,} points at about {_duration(seconds / solves)} each); trace large clouds "
        "with trace.estimator: subsample (exact W2^2 of fixed subsamples, trace.size), sliced "
        f"or sinkhorn, {sparser}or run it anyway with --force",
        source=scenario.name,
        path=("trace",),
    )


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{1000 * seconds:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class FlowRecords:
    """The estimators, trace schema and snapshot layout of one particle-flow run."""

    def __init__(self, scenario: FlowScenario, manifold, x0: torch.Tensor, y) -> None:
        self.scenario, self.manifold, self.x0, self.y = scenario, manifold, x0, y
        self.weighted = isinstance(y, WeightedTargets)
        if self.weighted:  # a barycentre flow: the exact sum_k w_k W2^2(x, Y_k)
            if scenario.trace.estimators != ["exact"]:
                raise ScenarioError(
                    "a barycentre flow (targets:) is traced by the exact weighted objective "
                    "only; remove trace.estimator or set it to exact",
                    source=scenario.name, path=("trace", "estimator"),
                )  # fmt: skip
            self.estimators = [WeightedExactW2(manifold, scenario.trace.solver)]
        else:
            self.estimators = make_estimators(scenario, manifold, x0, y)
        first, rest = self.estimators[0], self.estimators[1:]
        self.schema = TraceSchema(("loss", *(e.column for e in self.estimators)), first.column,
                                  first.description,
                                  tuple((e.column, e.description) for e in rest))  # fmt: skip
        limit = scenario.snapshots.max_points
        self.grids = {side: grid_of(scenario, side) for side in ("source", "target")}
        self.particle_index, self.particle_grid = snapshot_index(
            scenario.seeds, x0.shape[1], limit, self.grids["source"], part=0
        )
        self.target_index, self.target_grid = (
            (None, None)
            if self.weighted
            else snapshot_index(scenario.seeds, y.shape[1], limit, self.grids["target"], part=1)
        )
        if self.particle_grid is None and self.grids["source"] is not None:
            self.particle_grid = np.array(self.grids["source"])  # all pixels kept: the image
        # The full clouds of one seed when snapshots are cut down, or the particles are an image
        cut = self.particle_index is not None or self.target_index is not None
        keep = cut or self.grids["source"] is not None
        self.final_seed = scenario.output.gif_seed if keep else None

    def measure(self, x: torch.Tensor, y: torch.Tensor, note=None) -> dict[str, np.ndarray]:
        return {e.column: e(x, y, note) for e in self.estimators}

    def snapshot(self, x: torch.Tensor) -> np.ndarray:
        """The snapshot of the particles x (S, n, d): all of them, or the fixed subsample."""
        return _take(x, self.particle_index)

    def snapshot_shape(self) -> tuple[int, ...]:
        S, n, d = self.x0.shape
        return (S, n if self.particle_index is None else self.particle_index.shape[1], d)

    def arrays(self) -> dict[str, np.ndarray]:
        """particles.npz's fixed arrays: the (subsampled) targets and what was kept."""
        if self.weighted:  # all targets side by side; target_sizes splits them
            sizes = np.array([cloud.shape[1] for cloud in self.y.clouds])
            found = {"target": self.y.union().detach().cpu().numpy(), "target_sizes": sizes}
        else:
            found = {"target": _take(self.y, self.target_index)}
        for name, value in (("particle_index", self.particle_index),
                            ("particle_grid", self.particle_grid),
                            ("target_index", self.target_index),
                            ("target_grid", self.target_grid)):  # fmt: skip
            if value is not None:
                found[name] = np.asarray(value)
        return found

    def final(self, x: torch.Tensor) -> np.ndarray | None:
        """The full particles (n, d) of the recorded seed, when snapshots are subsampled."""
        if self.final_seed is None:
            return None
        return x[self.final_seed].detach().cpu().numpy()

    def final_arrays(self) -> dict[str, np.ndarray]:
        """final.npz's fixed arrays: the recorded seed's full source and target (and grids)."""
        if self.final_seed is None:
            return {}
        s = self.final_seed
        y = self.y.union() if self.weighted else self.y
        found = {"seed": np.array(self.scenario.seeds[s]),
                 "source": self.x0[s].detach().cpu().numpy(),
                 "target": y[s].detach().cpu().numpy()}  # fmt: skip
        for side, grid in self.grids.items():
            if grid is not None:
                found[f"{side}_grid"] = np.array(grid)
        return found


class WeightedExactW2:
    """The exact objective of a barycentre flow, ``sum_k w_k W2^2(x, Y_k)`` per seed."""

    column = "bary_w2sq"
    description = "weighted exact W2^2 to the targets"

    def __init__(self, manifold, solver: str = "auto") -> None:
        self.manifold, self.solver = manifold, solver

    def __call__(self, x: torch.Tensor, y: WeightedTargets, note=None) -> np.ndarray:
        return exact_objective(x, y, self.manifold, self.solver, note)


def snapshot_index(seeds: list[int], n: int, limit: int, grid, part: int):
    """(index (S, k) int64 or None, grid (2,) or None): the points kept in snapshots.

    None when all n fit; a strided sub-image (every s-th row and column, the same for every
    seed) when the points are an image's pixels; else a sorted random subsample drawn from
    ``Stream(seed, "snapshots")``.
    """
    if n <= limit:
        return None, None
    if grid is not None:
        rows, columns = grid
        stride = max(1, math.ceil(math.sqrt(n / limit)))
        while math.ceil(rows / stride) * math.ceil(columns / stride) > limit:
            stride += 1
        kept = np.arange(0, rows, stride)[:, None] * columns + np.arange(0, columns, stride)
        index = np.broadcast_to(kept.reshape(-1), (len(seeds), kept.size))
        return index.astype(np.int64), np.array(kept.shape)
    streams = [Stream(seed, "snapshots", part=part) for seed in seeds]
    index = [np.sort(s.random_state().choice(n, limit, replace=False)) for s in streams]
    return np.stack(index).astype(np.int64), None


def _take(points: torch.Tensor, index) -> np.ndarray:
    values = points.detach().cpu().numpy()
    if index is None:
        return values
    return np.take_along_axis(values, index[..., None], axis=1)


def make_estimators(scenario: FlowScenario, manifold, x0, y) -> list[Any]:
    """The trace estimators of ``scenario.trace`` in order, with their per-seed fixed draws."""
    trace, seeds = scenario.trace, scenario.seeds
    (_, n, d), m = x0.shape, y.shape[1]
    index = None
    if trace.size is not None or "subsample" in trace.estimators:
        size = trace.size or SUBSAMPLE_SIZE
        for what, count in (("n_particles", n), ("target samples", m)):
            if size > count:
                raise ScenarioError(
                    f"size {size:,} is larger than {what} ({count:,}); give trace.size <= "
                    f"{min(n, m):,}", source=scenario.name, path=("trace", "size"),
                )  # fmt: skip
        draws = [Stream(seed, "trace").random_state() for seed in seeds]
        index = [torch.from_numpy(np.stack([np.sort(r.choice(count, size, replace=False))
                                            for r in draws])) for count in (n, m)]  # fmt: skip
    found = []
    for name in trace.estimators:
        if name == "exact":
            found.append(ExactW2(manifold, trace.solver))
        elif name == "subsample":
            found.append(SubsampleW2(manifold, *index, solver=trace.solver))
        elif name == "sliced":
            theta = np.stack([Stream(seed, "trace", part=1).random_state().standard_normal(
                (trace.n_projections, d)) for seed in seeds])  # fmt: skip
            theta /= np.linalg.norm(theta, axis=-1, keepdims=True)
            found.append(SlicedW2(manifold, torch.from_numpy(theta)))
        elif name == "kmeans":
            if trace.clusters > min(n, m):
                raise ScenarioError(
                    f"clusters {trace.clusters:,} is more than the points of a cloud "
                    f"({min(n, m):,}); give trace.clusters <= {min(n, m):,}",
                    source=scenario.name, path=("trace", "clusters"),
                )  # fmt: skip
            states = [int(Stream(seed, "trace", part=2).random_state().randint(2**31 - 1))
                      for seed in seeds]  # fmt: skip
            found.append(PaletteW2(manifold, y, trace.clusters, states, trace.solver))
        else:
            sub = (None, None) if trace.size is None else index
            found.append(SinkhornDivergence(manifold, trace.blur, *sub))
    return found
