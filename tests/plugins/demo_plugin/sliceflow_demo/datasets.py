"""A third-party dataset: a noisy spiral, registered on import."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sliceflow.datasets import DatasetConfig, register_dataset


class SpiralConfig(DatasetConfig):
    turns: float = Field(1.5, gt=0)
    noise: float = Field(0.05, ge=0)


@register_dataset("spiral", SpiralConfig, summary="a noisy Archimedean spiral (demo plugin)")
def spiral(config: SpiralConfig, n: int, stream, dim: int | None) -> np.ndarray:
    if dim not in (None, 2):
        raise ValueError(f"spiral is two-dimensional; got dim {dim}")
    random = stream.random_state()
    t = 2 * np.pi * config.turns * random.uniform(0, 1, n)
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (2 * np.pi * config.turns)
    return points + config.noise * random.standard_normal((n, 2))
