"""The Poincaré-ball family of the DGSWP solver: Busemann projections of learned ideal points.

The projection of seed s is the Busemann map ``B_p`` of an ideal point p on the sphere
S^{d-1}; its plan pairs the Busemann orders of both clouds, at the cost of the squared geodesic
distances of the matched points. The smoothing draws ``p' ~ vMF(p, kappa)``; the estimator is the
score-function one with the same control variate as the Euclidean Stein estimator; the step is
Riemannian SGD on the sphere (geoopt ``Sphere``).

.. math:: h(p) = \\frac1k \\sum_i d\\big(x_{\\sigma_p(i)}, y_{\\tau_p(i)}\\big)^2, \\qquad
          \\widehat\\nabla_p = \\frac{\\kappa}{N} \\sum_{k=1}^N \\big(h(p'_k) - h(p)\\big)
          (I - pp^\\top)\\, p'_k

The inner loop runs in NumPy on float64 copies of the clouds: its arrays are a few points per
seed, where NumPy's per-call overhead is below torch's. Geometry (Busemann ratios, geodesic
distances, the vMF sampler, the sphere step) comes from ``sliceflow.manifolds``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sliceflow.manifolds.poincare.math import (
    RATIO_MIN,
    busemann_ratio,
    matched_sq_geodesic,
    squared_geodesic_cost,
)
from sliceflow.manifolds.sphere import rotate_from_pole, sphere_step, vmf_from_parts, vmf_radial
from sliceflow.ot.sliced._dgswp_families import Perturbation
from sliceflow.ot.sliced._slicing import matched_indices
from sliceflow.random import randn, random_directions


class CostMatrixPlanCosts:
    """Plan costs gathered from a cost matrix (S, n, m): orders (S, K, k) -> (S, K).

    .. math:: h = \\frac1k \\sum_i C_{\\sigma(i) \\tau(i)}, \\qquad k = \\max(n, m)
    """

    def __init__(self, cost: np.ndarray) -> None:
        S, n, m = cost.shape
        self.flat, self.m, self.k = cost.reshape(-1), m, max(n, m)
        self.offset = (np.arange(S) * (n * m))[:, None, None]  # (S, 1, 1) start of each matrix

    def __call__(self, sigma: np.ndarray, tau: np.ndarray) -> np.ndarray:
        return self.flat[sigma * self.m + tau + self.offset].sum(-1) / self.k


@dataclass
class BallClouds:
    """Fixed clouds for :class:`BusemannProjections` (NumPy, float64, scaled to the unit ball).

    ``points`` (S, d, n + m), ``top`` = 1 + |x|^2 and ``bottom`` = 1 - |x|^2 (S, 1, n + m): the
    Busemann ratio ``(1 + |x|^2 - 2 <p, x>) / (1 - |x|^2)`` of any candidate p is one product;
    ``costs`` gathers the squared-geodesic cost matrix.
    """

    points: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    n: int
    m: int
    costs: CostMatrixPlanCosts

    def orders(
        self, candidates: np.ndarray, excess: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Busemann orders of K ideal points per seed, (S, K, d) -> sigma, tau (S, K, k).

        The ratio clamped ``>= 1e-10`` as :func:`busemann_ratio`; one sort call for both clouds
        when n == m, else quantile levels on ``k = max(n, m)`` as :func:`matched_indices`.
        ``excess`` (S, K): ``|q|^2 - 1`` of candidates q off the sphere (default: unit ones),
        so that the ratio's numerator stays ``|q - x|^2``.
        """
        S, n, m = candidates.shape[0], self.n, self.m
        top = self.top if excess is None else self.top + excess[:, :, None]  # (S, K, n + m)
        ratio = np.maximum((top - 2.0 * (candidates @ self.points)) / self.bottom, RATIO_MIN)
        if n == m:
            order = np.argsort(ratio.reshape(S, -1, 2, n), axis=-1)
            return order[:, :, 0], order[:, :, 1]  # (S, K, k)
        k = max(n, m)
        sigma = np.argsort(ratio[..., :n], axis=-1)[..., _quantile_levels(n, k)]
        tau = np.argsort(ratio[..., n:], axis=-1)[..., _quantile_levels(m, k)]
        return sigma, tau


class BusemannProjections:
    """Busemann maps of learned ideal points p (S, d) on the ball of curvature -c.

    Parameters
    ----------
    dim : dimension d >= 2 of the ball (p lives on S^{d-1}).
    curvature : c > 0 (the ball of curvature -c).
    kappa : concentration of the vMF perturbations.
    dtype, device : of the clouds; p starts uniform on the sphere in this dtype and, after each
        fit, is rounded back to it (the loop itself runs in float64 on the CPU).
    """

    def __init__(
        self,
        dim: int,
        *,
        curvature: float = 1.0,
        kappa: float = 400.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> None:
        if dim < 2:
            raise ValueError("dgswp on the Poincaré ball needs dimension d >= 2 (vMF on S^(d-1))")
        if not kappa > 0 or not curvature > 0:
            raise ValueError(f"kappa and curvature must be > 0, got {kappa}, {curvature}")
        self.dim, self.c, self.kappa = dim, float(curvature), float(kappa)
        self.dtype, self.device = dtype, device

    def init_params(self, generators: list[torch.Generator]) -> torch.Tensor:
        p = random_directions(generators, 1, self.dim, dtype=self.dtype, device=self.device)
        return p[:, 0].double().cpu()  # (S, d)

    def prepare(self, x: torch.Tensor, y: torch.Tensor, costs: Any = None) -> BallClouds:
        if costs is None:
            cost = squared_geodesic_cost(x, y, self.c)  # (S, n, m) in the clouds' dtype
            costs = CostMatrixPlanCosts(cost.double().cpu().numpy())
        root = self.c**0.5
        xs, ys = x.double().cpu().numpy() * root, y.double().cpu().numpy() * root
        points = np.concatenate([xs, ys], axis=1).transpose(0, 2, 1)  # (S, d, n + m)
        sq = np.square(points).sum(1)[:, None, :]  # (S, 1, n + m)
        return BallClouds(points, 1.0 + sq, 1.0 - sq, x.shape[1], y.shape[1], costs)

    def draws(self, generators, clouds: BallClouds, count: int, steps: int) -> Iterator[Any]:
        """All ``steps * count`` vMF draws at once around the pole e_1 (Wood's radial parts,
        then the Gaussian tangent parts), then step by step; each step moves its draws to the
        current p (:func:`rotate_from_pole`)."""
        if steps == 0:
            return
        S, d = len(generators), self.dim
        radial = vmf_radial(generators, self.kappa, d, steps * count)  # (S, T N)
        gauss = randn(generators, (steps * count, d), dtype=torch.float64)  # (S, T N, d)
        pole = torch.zeros(S, d, dtype=torch.float64)
        pole[:, 0] = 1.0
        around_pole = vmf_from_parts(pole, radial, gauss).view(S, steps, count, d).numpy()
        for step in range(steps):
            yield around_pole[:, step]  # (S, N, d)

    def perturb(self, params: torch.Tensor, draws: Any, clouds: BallClouds) -> Perturbation:
        p = params.numpy()
        perturbed = rotate_from_pole(p, draws)  # (S, N, d) ~ vMF(p, kappa)
        costs = clouds.costs(*clouds.orders(np.concatenate([p[:, None], perturbed], axis=1)))
        return Perturbation(torch.from_numpy(costs), perturbed)

    def plan_costs(self, models: torch.Tensor, clouds: BallClouds) -> torch.Tensor:
        return torch.from_numpy(clouds.costs(*clouds.orders(models.numpy())))

    def gradient(self, params, perturbation: Perturbation, variance_reduction: bool):
        h = perturbation.costs.numpy()
        return vmf_score_gradient(
            params.numpy(), perturbation.draws, h[:, 0], h[:, 1:], self.kappa, variance_reduction
        )

    def optimizer(self, params: torch.Tensor, name: str, lr: float) -> SphereSGD:
        if name != "sgd":
            raise ValueError(f"the ideal point moves by Riemannian SGD (optimizer sgd), not {name}")
        return SphereSGD(params, lr)

    def orders(self, models: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
        p = models.to(dtype=x.dtype, device=x.device)  # (S, K, d)
        return matched_indices(busemann_ratio(x, p, self.c), busemann_ratio(y, p, self.c))

    def matched_cost(self, x, y, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return matched_sq_geodesic(x, y, sigma, tau, self.c)

    def work(self, x: torch.Tensor, y: torch.Tensor, count: int) -> float:
        """0: the NumPy loop always runs its seeds in one thread."""
        return 0.0

    def end_fit(self, params: torch.Tensor) -> None:
        if self.dtype != torch.float64:
            params.copy_(params.to(self.dtype).double())


class SphereSGD:
    """Riemannian SGD on the unit sphere for rows p (S, d), in place (:func:`sphere_step`)."""

    step_count = 0  # no state: the attribute exists for symmetry with BatchedAdam

    def __init__(self, params: torch.Tensor, lr: float) -> None:
        self.params, self.lr = params, lr
        self.view = params.numpy()  # the same memory, written in place

    def step(self, grads: list[np.ndarray]) -> None:
        (grad,) = grads
        self.view[...] = sphere_step(self.view, grad, self.lr)

    def rows(self, index: slice) -> SphereSGD:
        return SphereSGD(self.params[index], self.lr)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"SphereSGD keeps no state but got {sorted(state)}")


def vmf_score_gradient(
    p: np.ndarray,
    perturbed: np.ndarray,
    h_center: np.ndarray,
    h_perturbed: np.ndarray,
    kappa: float,
    variance_reduction: bool = True,
) -> np.ndarray:
    """Score estimate of the Riemannian gradient of ``E h(p')``, p' ~ vMF(p, kappa).

    .. math:: \\widehat\\nabla = \\frac{\\kappa}{N}\\sum_k (h(p'_k) - h(p)) (I - p p^\\top) p'_k

    (without variance reduction, ``h(p)`` is not subtracted). p (S, d), perturbed (S, N, d),
    h_center (S,), h_perturbed (S, N) -> (S, d), tangent at p.
    """
    tangent = perturbed - (perturbed @ p[:, :, None]) * p[:, None]  # (S, N, d)
    h = h_perturbed - h_center[:, None] if variance_reduction else h_perturbed
    slopes = (kappa / perturbed.shape[1]) * h  # (S, N)
    return (slopes[..., None] * tangent).sum(1)


def _quantile_levels(count: int, k: int) -> np.ndarray | slice:
    """Sorted positions read at the k quantile levels (all of them when count == k)."""
    if count == k:
        return slice(None)
    return np.minimum(np.floor((np.arange(k) + 0.5) / k * count).astype(np.int64), count - 1)
