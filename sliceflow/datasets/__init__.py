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


SIDES = ("source", "target")


@dataclass(frozen=True)
class Stream:
    """The random stream of one side (``source`` or ``target``) of seed ``seed``.

    ``part`` numbers further independent streams of the same side (e.g. fresh draws for each
    epoch of a training run); part 0 is the side's own stream.
    """

    seed: int
    side: str = "target"
    part: int = 0

    def random_state(self) -> np.random.RandomState:
        """A NumPy RandomState seeded by ``(seed, side[, part])``: one independent stream per
        side and part."""
        entropy = [self.seed, SIDES.index(self.side)] + ([self.part] if self.part else [])
        sequence = np.random.SeedSequence(entropy)
        return np.random.RandomState(np.random.MT19937(sequence))


Sampler = Callable[[DatasetConfig, int, Stream, "int | None"], np.ndarray]


@dataclass(frozen=True)
class Dataset:
    name: str
    Config: type[DatasetConfig]
    sample: Sampler
    manifolds: frozenset[str]
    summary: str


DATASETS: dict[str, Dataset] = {}


def register_dataset(
    name: str,
    Config: type[DatasetConfig] = DatasetConfig,
    *,
    manifolds: tuple[str, ...] = ("euclidean",),
    summary: str = "",
):
    """Decorator registering ``sample(config, n, stream, dim)`` under ``name``."""

    def decorate(sample: Sampler) -> Sampler:
        if name in DATASETS:
            raise RuntimeError(f"dataset {name!r} registered twice")
        text = summary or (sample.__doc__ or "").strip().splitlines()[0]
        DATASETS[name] = Dataset(name, Config, sample, frozenset(manifolds), text)
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
