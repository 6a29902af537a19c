"""Samples of a distribution of a scenario, per seed: datasets by name or points from a file
(each task builds its clouds from them, e.g. ``sliceflow.tasks.flow.clouds``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sliceflow.datasets import Stream, TooFewSamples, get_dataset
from sliceflow.datasets.files import describe
from sliceflow.datasets.files import read_points as read_points_file
from sliceflow.errors import ScenarioError, format_path
from sliceflow.scenario.models import DistributionSpec


def read_points(path: Path) -> np.ndarray:
    """Samples (m, d) from a ``.npy`` or ``.csv`` file (comma-separated, optional header line);
    ``DataFileError`` (a one-line ``ValueError``) naming the file and the row for a bad file."""
    return read_points_file(path)


def sample_distribution(
    spec: DistributionSpec,
    n: int,
    stream: Stream,
    dim: int | None,
    scenario,
    side: str | tuple,
    count_key: tuple = ("n_particles",),
) -> tuple[np.ndarray, str]:
    """Points (n or n_samples, d) of one side of one seed, and a phrase naming where they came
    from; ScenarioError (one line) for a missing or malformed file or a dataset error.

    ``count_key`` is the scenario key that sets ``n`` when the side has no ``n_samples`` (named
    when a dataset needs more samples).
    """
    side = side if isinstance(side, tuple) else (side,)

    def fail(message: str, path: tuple = side) -> ScenarioError:
        return ScenarioError(message, source=scenario.name, path=path)

    if spec.file is not None:
        path = Path(scenario.base_dir) / spec.file
        name = describe(spec.file, path)
        try:
            points = read_points_file(path, name)
        except ValueError as error:  # DataFileError: the file, the row or line, the fix
            raise fail(str(error), (*side, "file")) from None
        if spec.n_samples is not None and spec.n_samples < len(points):
            keep = stream.random_state().choice(len(points), spec.n_samples, replace=False)
            points = points[np.sort(keep)]
        return points, name
    dataset = get_dataset(spec.dataset)
    try:
        params = spec.params.resolved(scenario.base_dir)
        points = dataset.sample(params, spec.n_samples or n, stream, dim)
    except TooFewSamples as error:
        key = (*side, "n_samples") if spec.n_samples is not None else count_key
        raise fail(f"{error}; set {format_path(key)} to at least {error.minimum}", key) from None
    except ValueError as error:
        raise fail(str(error)) from None
    except MemoryError:
        raise fail(
            f"{spec.n_samples or n} samples do not fit in memory; lower the number of points"
        ) from None
    return np.asarray(points, dtype=np.float64), f"dataset {spec.dataset!r}"
