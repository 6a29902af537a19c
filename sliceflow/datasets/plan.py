"""The clouds of the DGSWP paper's plan experiment (its Figs. 1 and 3), as the authors' code
builds them: eight Gaussians (source) and two shifted, scaled moons (target).

Both draw only from their side's stream (``stream.random_state()``).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from sliceflow.datasets import DatasetConfig, Stream, register_dataset

SQRT2 = math.sqrt(2)
EIGHT_CENTRES = (
    (1.5, 0.0),
    (-1.75, 0.5),
    (0.0, 1.5),
    (0.0, -1.0),
    (0.75 / SQRT2, 1 / SQRT2),
    (1.3 / SQRT2, -1 / SQRT2),
    (-1.95 / SQRT2, 2 / SQRT2),
    (-1 / SQRT2, -0.25 / SQRT2),
)


def _two_d(name: str, dim: int | None) -> None:
    if dim is not None and dim != 2:
        raise ValueError(f"dataset {name!r} lives in dimension 2, not {dim}")


def _multiple(name: str, n: int, k: int) -> None:
    if n % k:
        raise ValueError(
            f"dataset {name!r} needs a number of points divisible by {k} (got {n}); "
            f"use e.g. {max(k, n - n % k)}"
        )


class EightGaussiansConfig(DatasetConfig):
    scale: float = Field(5.0, gt=0, description="the centres are multiplied by this")
    std: float = Field(0.1**0.25, gt=0, description="noise standard deviation (cov sqrt(0.1) I)")


@register_dataset("dgswp_eight_gaussians", EightGaussiansConfig)
def eight_gaussians(
    config: EightGaussiansConfig, n: int, stream: Stream, dim: int | None
) -> np.ndarray:
    """DGSWP Fig. 1 source: n/8 points around each of 8 fixed centres (x5), std 0.1^(1/4)."""
    _two_d("dgswp_eight_gaussians", dim)
    _multiple("dgswp_eight_gaussians", n, 8)
    centres = config.scale * np.repeat(np.array(EIGHT_CENTRES), n // 8, axis=0)  # (n, 2)
    return centres + config.std * stream.random_state().randn(n, 2)


class DGSWPMoonsConfig(DatasetConfig):
    noise: float = Field(0.2, ge=0, description="width of the uniform shift added to each point")


@register_dataset("dgswp_moons", DGSWPMoonsConfig)
def dgswp_moons(config: DGSWPMoonsConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """DGSWP Fig. 1 target: two arcs of n/2 evenly spaced points, shifted and scaled.

    Outer arc ``(cos t, sin t)``, inner ``(1 - cos t, 1/2 - sin t)``, ``t`` evenly spaced in
    [0, pi]; one uniform draw ``u`` in [0, noise) added to both coordinates of each point; the
    outer arc lifted by 0.3; then ``3 p - 1``; then ``x - 2`` and ``1.1 y + 1``.
    """
    _two_d("dgswp_moons", dim)
    _multiple("dgswp_moons", n, 2)
    t = np.linspace(0, np.pi, n // 2)
    outer = np.stack([np.cos(t), np.sin(t)], 1)
    inner = np.stack([1 - np.cos(t), 1 - np.sin(t) - 0.5], 1)
    points = np.concatenate([outer, inner]) + config.noise * stream.random_state().rand(n, 1)
    points[: n // 2, 1] += 0.3
    points = 3 * points - 1
    return np.stack([points[:, 0] - 2, 1.1 * points[:, 1] + 1], 1)
