"""Datasets for the JKO scenarios: the uniform ring the aggregation flow converges to."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sliceflow.datasets import DatasetConfig, Stream, register_dataset


class RingConfig(DatasetConfig):
    radius: float = Field(0.5, gt=0, description="radius of the circle")
    noise: float = Field(0.0, ge=0, description="std of isotropic Gaussian noise added")
    center: list[float] = Field(default_factory=lambda: [0.0, 0.0])


@register_dataset("ring", RingConfig)
def ring(config: RingConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """Uniform on the circle of radius r in the plane (angles U[0, 2 pi)), plus optional noise."""
    if dim is not None and dim != 2:
        raise ValueError(f"dataset 'ring' lives in dimension 2, not {dim}")
    rng = stream.random_state()
    angles = 2 * np.pi * rng.rand(n)
    points = config.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points = points + config.noise * rng.randn(n, 2)
    return points + np.asarray(config.center, dtype=float)
