"""Samples of a distribution of a scenario, per seed: datasets by name or points from a file
(each task builds its clouds from them, e.g. ``sliceflow.tasks.flow.clouds``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sliceflow.datasets import Stream, get_dataset
from sliceflow.errors import ScenarioError
from sliceflow.scenario.models import DistributionSpec


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
    spec: DistributionSpec, n: int, stream: Stream, dim: int | None, scenario, side: str | tuple
) -> tuple[np.ndarray, str]:
    """Points (n or n_samples, d) of one side of one seed, and a phrase naming where they came
    from; ScenarioError (one line) for a missing or malformed file or a dataset error."""

    def fail(message: str) -> ScenarioError:
        path = side if isinstance(side, tuple) else (side,)
        return ScenarioError(message, source=scenario.name, path=path)

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
    except MemoryError:
        raise fail(
            f"{spec.n_samples or n} samples do not fit in memory; lower the number of points"
        ) from None
    return np.asarray(points, dtype=np.float64), f"dataset {spec.dataset!r}"
