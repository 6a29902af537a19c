"""Source and target samplers by name (scikit-learn's generators where it has them).

A dataset is a function ``sample(config, n, seed, dim) -> np.ndarray (n, d)`` registered with
``@register_dataset(name, Config, manifolds=...)``. ``seed`` is the run's seed i (the papers use
``random_state = i``); ``dim`` is the scenario's requested dimension or None (datasets with a fixed
dimension reject any other). Modules of this package are imported on first use and register
themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Sampler = Callable[[DatasetConfig, int, int, "int | None"], np.ndarray]


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
    """Decorator registering ``sample(config, n, seed, dim)`` under ``name``."""

    def decorate(sample: Sampler) -> Sampler:
        if name in DATASETS:
            raise RuntimeError(f"dataset {name!r} registered twice")
        text = summary or (sample.__doc__ or "").strip().splitlines()[0]
        DATASETS[name] = Dataset(name, Config, sample, frozenset(manifolds), text)
        return sample

    return decorate


def get_dataset(name: str) -> Dataset:
    from sliceflow.flows import closest

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

__all__ = ["DATASETS", "Dataset", "DatasetConfig", "get_dataset", "register_dataset"]
