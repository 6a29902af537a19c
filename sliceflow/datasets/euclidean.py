"""Euclidean sources and targets of the DGSWP paper's Fig. 4 (docs/methods.md, "Datasets").

Every sampler draws from its side's own stream (``stream.random_state()``, a NumPy RandomState
seeded by the seed and the side), so seed i always sees the same clouds and its source and target
are independent.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator
from sklearn import datasets as skd

from sliceflow.datasets import DatasetConfig, Stream, TooFewSamples, register_dataset


def _standardise(points: np.ndarray, name: str) -> np.ndarray:
    """Each column to mean 0 and standard deviation 1 (a constant column has no scale)."""
    if len(points) < 2:
        raise TooFewSamples(name, 2, len(points), "it standardises each coordinate")
    std = points.std(axis=0)
    if not std.all():
        raise ValueError(
            f"dataset {name!r}: its {len(points)} samples share a coordinate, which cannot be "
            "standardised; ask for more samples or add noise"
        )
    return (points - points.mean(axis=0)) / std


def _fixed_dim(name: str, dim: int | None, native: int) -> None:
    if dim is not None and dim != native:
        raise ValueError(f"dataset {name!r} lives in dimension {native}, not {dim}")


class UniformCubeConfig(DatasetConfig):
    scale: float = Field(2.5, gt=0, description="side of the cube")
    center: float = Field(1.0, description="centre of the cube on every axis")
    dim: int | None = Field(None, gt=0)


@register_dataset("uniform_cube", UniformCubeConfig)
def uniform_cube(config: UniformCubeConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """The paper's source: scale * (U[0,1]^d - 0.5) + center (default 2.5 (U - 0.5) + 1)."""
    d = config.dim or dim or 2
    unit = stream.random_state().rand(n, d)
    return config.scale * (unit - 0.5) + config.center


class MoonsConfig(DatasetConfig):
    noise: float = Field(0.05, ge=0)


@register_dataset("two_moons", MoonsConfig)
def two_moons(config: MoonsConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """scikit-learn make_moons, standardised per column."""
    _fixed_dim("two_moons", dim, 2)
    points, _ = skd.make_moons(n_samples=n, noise=config.noise, random_state=stream.random_state())
    return _standardise(points, "two_moons")


class SwissRollConfig(DatasetConfig):
    noise: float = Field(0.0, ge=0)


@register_dataset("swiss_roll", SwissRollConfig)
def swiss_roll(config: SwissRollConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """scikit-learn make_swiss_roll, columns 0 and 2, standardised."""
    _fixed_dim("swiss_roll", dim, 2)
    points, _ = skd.make_swiss_roll(
        n_samples=n, noise=config.noise, random_state=stream.random_state()
    )
    return _standardise(points[:, [0, 2]], "swiss_roll")


class CircleConfig(DatasetConfig):
    factor: float = Field(0.5, gt=0, lt=1)
    noise: float = Field(0.075, ge=0)


@register_dataset("circle", CircleConfig)
def circle(config: CircleConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """scikit-learn make_circles (factor 0.5, noise 0.075), outer ring only, standardised."""
    _fixed_dim("circle", dim, 2)
    # make_circles splits n_samples between the rings: ask for 2n and keep the n outer points.
    points, label = skd.make_circles(
        n_samples=2 * n,
        factor=config.factor,
        noise=config.noise,
        random_state=stream.random_state(),
    )
    return _standardise(points[label == 0][:n], "circle")


class EightGaussiansConfig(DatasetConfig):
    radius: float = Field(2.0, gt=0)
    std: float = Field(0.02, gt=0)


@register_dataset("8gaussians", EightGaussiansConfig)
def eight_gaussians(
    config: EightGaussiansConfig, n: int, stream: Stream, dim: int | None
) -> np.ndarray:
    """Eight Gaussians on a circle (radius 2, std 0.02), divided by 1.414."""
    _fixed_dim("8gaussians", dim, 2)
    rng = stream.random_state()
    angles = np.arange(8) * np.pi / 4
    centers = config.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    which = rng.randint(0, 8, size=n)
    return (centers[which] + config.std * rng.randn(n, 2)) / 1.414


class GaussianConfig(DatasetConfig):
    dim: int | None = Field(None, gt=0)
    mean: list[float] | float | None = Field(
        None, description="explicit mean (default: drawn from N(0, I) with the seed)"
    )
    cov: list[list[float]] | float | None = Field(
        None, description="explicit SPD covariance or a scalar times I (default: make_spd_matrix)"
    )

    @field_validator("cov")
    @classmethod
    def _spd(cls, cov):
        if cov is None:
            return cov
        matrix = np.atleast_2d(np.asarray(cov, dtype=float))
        if np.ndim(cov) == 0:
            if float(cov) <= 0:
                raise ValueError("cov must be positive")
            return cov
        if matrix.shape[0] != matrix.shape[1] or not np.allclose(matrix, matrix.T):
            raise ValueError("cov must be a symmetric square matrix")
        if np.linalg.eigvalsh(matrix).min() <= 0:
            raise ValueError("cov must be positive definite")
        return cov


def gaussian_parameters(config: GaussianConfig, stream: Stream, dim: int | None):
    """Mean (d,) and covariance (d, d) of the ``gaussian`` dataset for this seed and side, and
    the RandomState to draw samples from.

    Further parts of a stream (``Stream.part``) are more draws from the same Gaussian: its
    parameters always come from part 0.
    """
    if stream.part:
        mean, cov, _ = gaussian_parameters(config, Stream(stream.seed, stream.side), dim)
        return mean, cov, stream.random_state()
    d = config.dim or dim
    for value in (config.mean, config.cov):
        if d is None and isinstance(value, list):
            d = len(value)
    if d is None:
        raise ValueError("dataset 'gaussian' needs its dimension: set dim (or an explicit mean)")
    rng = stream.random_state()
    if config.mean is None:
        mean = rng.randn(d)
    else:
        mean = np.broadcast_to(np.asarray(config.mean, dtype=float), (d,)).copy()
    if config.cov is None:
        cov = skd.make_spd_matrix(d, random_state=stream.random_state())
    elif np.ndim(config.cov) == 0:
        cov = float(config.cov) * np.eye(d)
    else:
        cov = np.asarray(config.cov, dtype=float)
    if cov.shape != (d, d) or mean.shape != (d,):
        raise ValueError(f"gaussian: mean {mean.shape} and cov {cov.shape} disagree with d = {d}")
    return mean, cov, rng


@register_dataset("gaussian", GaussianConfig)
def gaussian(config: GaussianConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """N(mean, cov): mean ~ N(0, I) and cov = make_spd_matrix(d) unless given explicitly."""
    mean, cov, rng = gaussian_parameters(config, stream, dim)
    return rng.multivariate_normal(mean, cov, size=n)
