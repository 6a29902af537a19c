"""Source and target samplers by name (scikit-learn's generators where it has them).

A dataset is a function ``sample(config, n, stream, dim) -> np.ndarray (n, d)`` registered with
``@register_dataset(name, Config, manifolds=...)``. ``stream`` identifies the random stream of one
side (source or target) of one seed: ``stream.random_state()`` is a NumPy ``RandomState`` of its
own, so a seed's source and target are independent draws even when both are the same dataset.
``dim`` is the scenario's requested dimension or None (datasets with a fixed dimension reject any
other). Modules of this package register themselves on import; installed packages add datasets
through the entry-point group ``sliceflow.datasets`` (a module that registers its datasets, or a
``Dataset`` record; see :mod:`sliceflow.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from pydantic import BaseModel, ConfigDict

from sliceflow.plugins import Plugins
from sliceflow.registry import Registry


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def resolved(self, base_dir: str) -> DatasetConfig:
        """The parameters with file paths made relative to the scenario's folder (none here)."""
        return self


# The sides of a seed with a stream of their own: its clouds, and the fixed draws of what a run
# records (the trace estimators' subsamples and directions, the snapshots' subsample).
SIDES = ("source", "target", "trace", "snapshots")


@dataclass(frozen=True)
class Stream:
    """The random stream of one side (``source``, ``target``, or the run's own draws:
    ``trace``, ``snapshots``) of seed ``seed``.

    ``index`` numbers the targets of a scenario with several (``targets:``), 0 being the first;
    ``part`` numbers further independent streams of the same side (e.g. fresh draws for each
    epoch of a training run), part 0 being the side's own stream. A stream has one or the
    other: runs with several targets draw no parts.
    """

    seed: int
    side: str = "target"
    index: int = 0
    part: int = 0

    def __post_init__(self) -> None:
        if self.index and self.part:
            raise ValueError("a stream numbers a target (index) or a part, not both")

    def random_state(self) -> np.random.RandomState:
        """A NumPy RandomState seeded by ``(seed, side[, index or part])``: one independent
        stream per side, target and part (target 0 and part 0 are the side's own stream)."""
        extra = self.index or self.part
        entropy = [self.seed, SIDES.index(self.side)] + ([extra] if extra else [])
        sequence = np.random.SeedSequence(entropy)
        return np.random.RandomState(np.random.MT19937(sequence))


class TooFewSamples(ValueError):
    """A dataset asked for fewer samples than it can make (``minimum``): the caller names the
    scenario key that sets the count."""

    def __init__(self, dataset: str, minimum: int, n: int, why: str) -> None:
        self.dataset, self.minimum, self.n = dataset, minimum, n
        super().__init__(f"dataset {dataset!r} needs at least {minimum} samples ({why}), got {n}")


Sampler = Callable[[DatasetConfig, int, Stream, "int | None"], np.ndarray]
Grid = Callable[[DatasetConfig, int], "tuple[int, int] | None"]


@dataclass(frozen=True)
class Dataset:
    name: str
    Config: type[DatasetConfig]
    sample: Sampler
    manifolds: frozenset[str]
    summary: str
    # grid(config, n) -> (rows, columns) when the n samples are the pixels of an image in
    # row-major order (the reports can then draw the particles as an image), else None.
    grid: Grid | None = None


def _adopt(name: str, dataset: object) -> Dataset:
    """A plugin's ``Dataset`` record, renamed to its entry point's name."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"{dataset!r} is not a sliceflow.datasets.Dataset")
    return replace(dataset, name=name)


DATASETS: Registry = Registry("dataset", __name__, group="sliceflow.datasets", adopt=_adopt)
PLUGINS: Plugins = DATASETS.plugins  # where each dataset comes from, the plugins that did not load


def register_dataset(
    name: str,
    Config: type[DatasetConfig] = DatasetConfig,
    *,
    manifolds: tuple[str, ...] = ("euclidean",),
    summary: str = "",
    grid: Grid | None = None,
):
    """Decorator registering ``sample(config, n, stream, dim)`` under ``name``."""

    def decorate(sample: Sampler) -> Sampler:
        text = summary or (sample.__doc__ or "").strip().splitlines()[0]
        DATASETS.add(name, Dataset(name, Config, sample, frozenset(manifolds), text, grid))
        return sample

    return decorate


def get_dataset(name: str) -> Dataset:
    """The dataset registered as ``name``; ``ValueError`` naming the known ones."""
    return DATASETS.lookup(name)


def dataset_origin(name: str) -> str:
    """Where dataset ``name`` comes from: ``sliceflow`` or ``plugin <package> <version> (...)``."""
    return DATASETS.origin(name)


def load_plugins() -> Plugins:
    """Register the datasets of installed packages (entry-point group ``sliceflow.datasets``)."""
    return DATASETS.load_plugins()


DATASETS.load()

__all__ = ["DATASETS", "PLUGINS", "Dataset", "DatasetConfig", "Stream", "TooFewSamples",
           "dataset_origin", "get_dataset", "load_plugins", "register_dataset"]  # fmt: skip
