"""Source and target clouds of a run, one per seed: datasets by name or samples from a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sliceflow.datasets import Stream, get_dataset
from sliceflow.errors import ScenarioError
from sliceflow.scenario.models import DistributionSpec, Scenario


def read_points(path: Path) -> np.ndarray:
    """Samples (m, d) from a ``.npy`` or ``.csv`` file (comma-separated, optional header)."""
    if path.suffix == ".npy":
        points = np.load(path, allow_pickle=False)
    elif path.suffix == ".csv":
        try:
            points = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError:
            points = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
    else:
        raise ValueError(f"unsupported file type {path.suffix!r}; use .npy or .csv")
    return np.asarray(points, dtype=np.float64)


def sample_distribution(
    spec: DistributionSpec, n: int, stream: Stream, dim: int | None, scenario, side: str
) -> tuple[np.ndarray, str]:
    """Points (n or n_samples, d) of one side of one seed, and a phrase naming where they came
    from; ScenarioError (one line) for a missing or malformed file or a dataset error."""

    def fail(message: str) -> ScenarioError:
        return ScenarioError(message, source=scenario.name, path=(side,))

    if spec.file is not None:
        path = Path(scenario.base_dir) / spec.file
        if not path.is_file():
            raise fail(f"file {str(path)!r} not found; check the path (relative to the scenario)")
        try:
            points = read_points(path)
        except (ValueError, OSError) as error:
            raise fail(f"cannot read {str(path)!r}: {error}") from None
        if points.ndim != 2 or points.shape[0] < 1:
            raise fail(
                f"{str(path)!r} has shape {points.shape}; expected (samples, dimension), "
                "one sample per row"
            )
        if spec.n_samples is not None and spec.n_samples < len(points):
            keep = stream.random_state().choice(len(points), spec.n_samples, replace=False)
            points = points[np.sort(keep)]
        return points, str(path)
    dataset = get_dataset(spec.dataset)
    try:
        params = spec.params.resolved(scenario.base_dir)
        points = dataset.sample(params, spec.n_samples or n, stream, dim)
    except ValueError as error:
        raise fail(str(error)) from None
    return np.asarray(points, dtype=np.float64), f"dataset {spec.dataset!r}"


def make_clouds(scenario: Scenario, manifold, dtype: torch.dtype, device) -> tuple:
    """(x0 (S, n, d), y (S, m, d)): seed i samples its own source and target, each from its own
    stream (``Stream(i, side)``)."""
    sources, targets = [], []
    n = scenario.n_particles
    for seed in scenario.seeds:
        y, y_where = sample_distribution(
            scenario.target, n, Stream(seed, "target"), scenario.dim, scenario, "target"
        )
        x, x_where = sample_distribution(
            scenario.source, n, Stream(seed, "source"), y.shape[1], scenario, "source"
        )
        if x.shape[1] != y.shape[1]:
            raise ScenarioError(
                f"source has dimension {x.shape[1]} but target has {y.shape[1]}; make them agree",
                source=scenario.name,
                path=("source",),
            )
        for points, where, side in ((x, x_where, "source"), (y, y_where, "target")):
            try:
                manifold.validate_points(torch.from_numpy(points), where)
            except ValueError as error:
                raise ScenarioError(str(error), source=scenario.name, path=(side,)) from None
        sources.append(x)
        targets.append(y)
    if len({t.shape[0] for t in targets}) != 1:
        raise ScenarioError("target sizes differ between seeds", source=scenario.name)
    x0 = torch.from_numpy(np.stack(sources)).to(device=device, dtype=dtype)
    y = torch.from_numpy(np.stack(targets)).to(device=device, dtype=dtype)
    return x0, y


def grid_of(scenario: Scenario, side: str) -> tuple[int, int] | None:
    """(rows, columns) when a side's points are the pixels of an image in row-major order (the
    same for every seed), else None."""
    spec = getattr(scenario, side)
    if spec.dataset is None or get_dataset(spec.dataset).grid is None:
        return None
    n = spec.n_samples or scenario.n_particles
    try:
        return get_dataset(spec.dataset).grid(spec.params.resolved(scenario.base_dir), n)
    except ValueError:  # reported by sample_distribution
        return None
