"""Source and target samplers by name (scikit-learn's generators where it has them).

A dataset is a function ``sample(config, n, stream, dim) -> np.ndarray (n, d)`` registered with
``@register_dataset(name, Config, manifolds=...)``. ``stream`` identifies the random stream of one
side (source or target) of one seed: ``stream.random_state()`` is a NumPy ``RandomState`` of its
own, so a seed's source and target are independent draws even when both are the same dataset.
``dim`` is the scenario's requested dimension or None (datasets with a fixed dimension reject any
other). Modules of this package register themselves on import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict


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
    """The random stream of one side (``source``, ``target``, ...) of seed ``seed``."""

    seed: int
    side: str = "target"

    def random_state(self, part: int = 0) -> np.random.RandomState:
        """A NumPy RandomState seeded by ``(seed, side)`` (and ``part`` > 0, for independent
        draws of one side): one independent stream per side and part."""
        key = [self.seed, SIDES.index(self.side)] + ([part] if part else [])
        return np.random.RandomState(np.random.MT19937(np.random.SeedSequence(key)))


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


DATASETS: dict[str, Dataset] = {}


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
        if name in DATASETS:
            raise RuntimeError(f"dataset {name!r} registered twice")
        text = summary or (sample.__doc__ or "").strip().splitlines()[0]
        DATASETS[name] = Dataset(name, Config, sample, frozenset(manifolds), text, grid)
        return sample

    return decorate


def get_dataset(name: str) -> Dataset:
    from sliceflow.errors import closest

    try:
        return DATASETS[name]
    except KeyError:
        known = sorted(DATASETS)
        raise ValueError(
            f"unknown dataset {name!r}{closest(name, known)}; known datasets: {', '.join(known)}"
        ) from None


def _import_all() -> None:
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["DATASETS", "Dataset", "DatasetConfig", "Stream", "get_dataset", "register_dataset"]
