"""The clouds of a particle-flow run, one per seed: the source, and the target or the weighted
targets of a barycentre flow, each side of each seed from its own stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sliceflow.datasets import Stream, get_dataset
from sliceflow.errors import ScenarioError
from sliceflow.scenario.clouds import sample_distribution


@dataclass
class WeightedTargets:
    """The targets of a barycentre flow (``targets:``): clouds ``Y_k`` (S, m_k, d) and weights
    ``w_k`` summing to 1; seed i draws target k from its own stream ``Stream(i, "target", k)``."""

    clouds: list[torch.Tensor]
    weights: list[float]

    def union(self) -> torch.Tensor:
        """All targets' points side by side, (S, sum_k m_k, d) (what the reports draw)."""
        return torch.cat(self.clouds, dim=1)


def make_clouds(scenario, manifold, dtype: torch.dtype, device) -> tuple:
    """(x0 (S, n, d), y): seed i samples its own source and targets, each from its own stream,
    for a particle-flow scenario (``n_particles``, ``source``, ``target`` or ``targets``).

    ``y`` is (S, m, d) for a single ``target``, a :class:`WeightedTargets` for ``targets``.
    """
    single = scenario.targets is None
    specs = [scenario.target] if single else scenario.targets
    sources, targets = [], [[] for _ in specs]
    n = scenario.n_particles
    for seed in scenario.seeds:
        drawn = []
        for k, spec in enumerate(specs):
            side = "target" if single else ("targets", k)
            stream = Stream(seed, "target", index=k)
            points, where = sample_distribution(spec, n, stream, scenario.dim, scenario, side)
            drawn.append((points, where, side))
        x, x_where = sample_distribution(
            scenario.source, n, Stream(seed, "source"), drawn[0][0].shape[1], scenario, "source"
        )
        for y, _, side in drawn:
            if x.shape[1] != y.shape[1]:
                raise ScenarioError(
                    f"source has dimension {x.shape[1]} but target has {y.shape[1]}; make them "
                    "agree",
                    source=scenario.name,
                    path=side if isinstance(side, tuple) else (side,),
                )
        for points, where, side in ((x, x_where, "source"), *drawn):
            _check_points(manifold, points, where, dtype, scenario, side)
        sources.append(x)
        for k, (y, _, _) in enumerate(drawn):
            targets[k].append(y)
    if any(len({t.shape[0] for t in per_target}) != 1 for per_target in targets):
        raise ScenarioError("target sizes differ between seeds", source=scenario.name)
    x0 = torch.from_numpy(np.stack(sources)).to(device=device, dtype=dtype)
    clouds = [torch.from_numpy(np.stack(t)).to(device=device, dtype=dtype) for t in targets]
    if single:
        return x0, clouds[0]
    return x0, WeightedTargets(clouds, scenario.target_weights())


def _check_points(manifold, points: np.ndarray, where: str, dtype, scenario, side) -> None:
    """ScenarioError naming the first row that is not a point of the manifold, as read (float64)
    and then as the run holds it: rounding to a coarser ``dtype`` can put a point of the
    Poincaré ball on its boundary, or make a large coordinate infinite."""
    path = side if isinstance(side, tuple) else (side,)
    try:
        manifold.validate_points(torch.from_numpy(points), where)
        if dtype != torch.float64:
            manifold.validate_points(torch.from_numpy(points).to(dtype), where)
    except ValueError as error:
        raise ScenarioError(str(error), source=scenario.name, path=path) from None


def grid_of(scenario, side: str) -> tuple[int, int] | None:
    """(rows, columns) when a side's points are the pixels of an image in row-major order (the
    same for every seed), else None (also for the several targets of a barycentre flow)."""
    spec = getattr(scenario, side)
    if spec is None or spec.dataset is None or get_dataset(spec.dataset).grid is None:
        return None
    n = spec.n_samples or scenario.n_particles
    try:
        return get_dataset(spec.dataset).grid(spec.params.resolved(scenario.base_dir), n)
    except ValueError:  # reported by sample_distribution
        return None
