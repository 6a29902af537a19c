"""Wrapped normal distributions on the Poincaré ball (curvature -1), and their mixtures.

Sampling (see docs/methods.md, "Hyperbolic space"): ``v' ~ N(0, Sigma)`` in R^d, ``v = (0, v')`` at
the hyperboloid origin, parallel transport to the mean ``mu``, exponential map at ``mu``, and the
map to the ball last. ``Sigma`` is a covariance (not a standard deviation).

Randomness: a NumPy ``Generator`` seeded by ``(seed, crc32 of the dataset's name and
parameters)``. Seed i always gives the same cloud, and a source and a target that are both
wrapped normals (the usual case) draw independent noise instead of the same Gaussian vectors
rescaled, which would tie every target point to a source point.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import torch
from pydantic import Field, model_validator

from sliceflow.datasets import DatasetConfig, Stream, register_dataset
from sliceflow.manifolds.poincare.math import (
    lorentz_expmap,
    lorentz_to_poincare,
    parallel_transport_from_origin,
    poincare_to_lorentz,
)

MWND_CENTRES = [[0.0, 0.5], [0.5, 0.0], [0.0, -0.5], [-0.5, 0.0], [0.0, 0.1]]
HYPERBOLOID_TOLERANCE = 1e-3  # |<mu, mu>_L + 1| accepted (e.g. [1.5, 1.118, 0]), then re-projected

Covariance = float | list[list[float]]


def _rng(name: str, config: DatasetConfig, seed: int) -> np.random.Generator:
    salt = zlib.crc32(json.dumps([name, config.model_dump()], sort_keys=True).encode())
    return np.random.default_rng([seed, salt])


def _covariance(cov: Covariance, d: int) -> np.ndarray:
    """A scalar s means s I; a matrix must be (d, d) symmetric positive semi-definite."""
    matrix = np.asarray(cov, dtype=np.float64)
    if matrix.ndim == 0:
        if matrix < 0:
            raise ValueError(f"cov must be >= 0, got {float(matrix)}")
        return float(matrix) * np.eye(d)
    if matrix.shape != (d, d) or not np.allclose(matrix, matrix.T):
        raise ValueError(f"cov must be a scalar or a symmetric {d}x{d} matrix, got {matrix.shape}")
    if np.linalg.eigvalsh(matrix).min() < -1e-12:
        raise ValueError("cov must be positive semi-definite")
    return matrix


def _lorentz_mean(mean: list[float]) -> np.ndarray:
    """Check a hyperboloid point (x0 > 0, <x, x>_L = -1 within tolerance); snap x0 exactly."""
    point = np.asarray(mean, dtype=np.float64)
    norm = -(point[0] ** 2) + np.sum(point[1:] ** 2)
    if point[0] <= 0 or abs(norm + 1.0) > HYPERBOLOID_TOLERANCE:
        raise ValueError(
            f"mean {mean} is not on the hyperboloid (<x, x>_L = {norm:.6g}, need -1 and x0 > 0); "
            "give Lorentz coordinates (x0, x1, ..., xd) or use mean_poincare"
        )
    point[0] = np.sqrt(1.0 + np.sum(point[1:] ** 2))
    return point


def sample_wrapped_normal(
    mean_lorentz: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """n draws of WND(mu, Sigma) as ball points (n, d), float64.

    .. math:: v' \\sim N(0, \\Sigma), \\quad u = PT_{x_0 \\to \\mu}((0, v')), \\quad
              x = \\exp_\\mu(u) \\mapsto x_{1:} / (1 + x_0)
    """
    d = cov.shape[0]
    tangent = rng.multivariate_normal(np.zeros(d), cov, size=n, method="cholesky")  # (n, d)
    v = torch.from_numpy(np.concatenate([np.zeros((n, 1)), tangent], axis=1))  # (n, d + 1)
    mu = torch.from_numpy(mean_lorentz).expand(n, d + 1)
    u = parallel_transport_from_origin(mu, v)
    return lorentz_to_poincare(lorentz_expmap(mu, u)).numpy()


class WrappedNormalConfig(DatasetConfig):
    mean: list[float] | None = Field(
        None, description="mean in Lorentz coordinates (x0, x1, ..., xd); default the origin"
    )
    mean_poincare: list[float] | None = Field(None, description="mean as a ball point (d values)")
    cov: Covariance = Field(1.0, description="covariance: scalar s (s I) or a d x d matrix")

    @model_validator(mode="after")
    def _one_mean(self):
        if self.mean is not None and self.mean_poincare is not None:
            raise ValueError("give mean (Lorentz) or mean_poincare, not both")
        if self.mean_poincare is not None and np.sum(np.square(self.mean_poincare)) >= 1.0:
            raise ValueError(f"mean_poincare {self.mean_poincare} is not inside the unit ball")
        return self


def _mean_of(config: WrappedNormalConfig, dim: int | None) -> np.ndarray:
    if config.mean is not None:
        mean = _lorentz_mean(config.mean)
    elif config.mean_poincare is not None:
        ball = torch.tensor(config.mean_poincare, dtype=torch.float64)
        mean = poincare_to_lorentz(ball).numpy()
    else:
        mean = np.eye(1, (dim or 2) + 1)[0]
    if dim is not None and mean.size - 1 != dim:
        raise ValueError(f"wrapped normal mean lives in dimension {mean.size - 1}, not {dim}")
    return mean


@register_dataset("wrapped_normal", WrappedNormalConfig, manifolds=("poincare",))
def wrapped_normal(
    config: WrappedNormalConfig, n: int, stream: Stream, dim: int | None
) -> np.ndarray:
    """Wrapped normal WND(mu, Sigma) on the ball (curvature -1): default mu = origin, Sigma = I."""
    mean = _mean_of(config, dim)
    cov = _covariance(config.cov, mean.size - 1)
    return sample_wrapped_normal(mean, cov, n, _rng("wrapped_normal", config, stream.seed))


class WrappedNormalMixtureConfig(DatasetConfig):
    centres: list[list[float]] = Field(
        default_factory=lambda: [list(c) for c in MWND_CENTRES],
        description="component means as ball points; default the 5 'mwnd' centres",
    )
    cov: Covariance | list[Covariance] = Field(
        0.01, description="one covariance shared by all components, or one per component"
    )

    @model_validator(mode="after")
    def _check(self):
        if not self.centres:
            raise ValueError("centres must list at least one ball point")
        if any(np.sum(np.square(c)) >= 1.0 for c in self.centres):
            raise ValueError("every centre must be strictly inside the unit ball")
        return self


def _per_component(config: WrappedNormalMixtureConfig, d: int) -> list[np.ndarray]:
    count = len(config.centres)
    cov = config.cov
    if isinstance(cov, list) and len(cov) == count and not _is_matrix(cov, d):
        return [_covariance(c, d) for c in cov]
    return [_covariance(cov, d)] * count


def _is_matrix(cov: list, d: int) -> bool:
    return np.asarray(cov, dtype=object).shape == (d, d) and all(
        not isinstance(v, list) for row in cov for v in row
    )


@register_dataset("wrapped_normal_mixture", WrappedNormalMixtureConfig, manifolds=("poincare",))
def wrapped_normal_mixture(
    config: WrappedNormalMixtureConfig, n: int, stream: Stream, dim: int | None
) -> np.ndarray:
    """Equal-weight mixture of wrapped normals at ball centres (default: 'mwnd', cov 0.01 I)."""
    d = len(config.centres[0])
    if any(len(c) != d for c in config.centres) or (dim is not None and dim != d):
        raise ValueError(f"every centre must have dimension {dim or d}")
    covs = _per_component(config, d)
    rng = _rng("wrapped_normal_mixture", config, stream.seed)
    labels = rng.integers(len(config.centres), size=n)  # (n,) equal weights
    points = np.empty((n, d))
    for k, centre in enumerate(config.centres):
        chosen = np.flatnonzero(labels == k)
        mean = poincare_to_lorentz(torch.tensor(centre, dtype=torch.float64)).numpy()
        points[chosen] = sample_wrapped_normal(mean, covs[k], chosen.size, rng)
    return points
