"""The ball family of the DGSWP solver with the authors' code's Gaussian perturbations.

The DGSWP authors' ``PoincareDGSWPGradientFlow`` (github.com/rtavenar/dgswp) perturbs the ideal
point p additively, ``p' = p + eps Z`` with ``Z ~ N(0, I_d)`` and eps = 5.0, and orders each
cloud by ``log(|p' - x|^2 / (1 - |x|^2))`` at that unnormalised p' (the normalising branch of
their noise sampler slices an empty axis of the (1, d) parameter and does nothing). Their
gradient is Stein's estimator of a Gaussian smoothing on R^d, which geoopt's ``RiemannianSGD``
projects on the tangent space of the sphere before the step:

.. math:: \\widehat\\nabla_p = (I - pp^\\top) \\frac{1}{N\\epsilon} \\sum_{k=1}^N
          \\big(h(p + \\epsilon Z_k) - h(p)\\big) Z_k

(without variance reduction, ``h(p)`` is not subtracted). The paper's text describes von
Mises-Fisher perturbations instead: :class:`BusemannProjections`, the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from sliceflow.ot.sliced._dgswp_ball import BallClouds, BusemannProjections
from sliceflow.ot.sliced._dgswp_families import Perturbation
from sliceflow.random import randn


class GaussianBusemannProjections(BusemannProjections):
    """Busemann maps of learned ideal points p (S, d), smoothed by ``p + eps Z`` off the sphere.

    Parameters
    ----------
    dim : dimension d >= 2 of the ball (p lives on S^{d-1}).
    curvature : c > 0 (the ball of curvature -c).
    eps : scale of the Gaussian perturbations (the authors' code: 5.0).
    dtype, device : as :class:`BusemannProjections`.
    """

    def __init__(
        self,
        dim: int,
        *,
        curvature: float = 1.0,
        eps: float = 5.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(dim, curvature=curvature, dtype=dtype, device=device)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)

    def draws(self, generators, clouds: BallClouds, count: int, steps: int) -> Iterator[Any]:
        """All ``steps * count`` standard normal Z (S, N, d) at once, then step by step."""
        if steps == 0:
            return
        S, d = len(generators), self.dim
        gauss = randn(generators, (steps * count, d), dtype=torch.float64)  # (S, T N, d)
        gauss = gauss.view(S, steps, count, d).numpy()
        for step in range(steps):
            yield gauss[:, step]  # (S, N, d)

    def perturb(self, params: torch.Tensor, draws: Any, clouds: BallClouds) -> Perturbation:
        p = params.numpy()[:, None]  # (S, 1, d)
        candidates = np.concatenate([p, p + self.eps * draws], axis=1)  # (S, N + 1, d)
        excess = np.square(candidates).sum(-1) - 1.0  # (S, N + 1)
        excess[:, 0] = 0.0  # p itself is on the sphere: its plan as everywhere else
        costs = clouds.costs(*clouds.orders(candidates, excess))
        return Perturbation(torch.from_numpy(costs), draws)

    def gradient(self, params, perturbation: Perturbation, variance_reduction: bool):
        h = perturbation.costs.numpy()
        return gaussian_sphere_gradient(
            params.numpy(), perturbation.draws, h[:, 0], h[:, 1:], self.eps, variance_reduction
        )


def gaussian_sphere_gradient(
    p: np.ndarray,
    z: np.ndarray,
    h_center: np.ndarray,
    h_perturbed: np.ndarray,
    eps: float,
    variance_reduction: bool = True,
) -> np.ndarray:
    """Stein's estimate of the gradient of ``E h(p + eps Z)``, projected on the tangent at p.

    .. math:: (I - pp^\\top) \\frac{1}{N\\epsilon} \\sum_k (h(p + \\epsilon Z_k) - h(p)) Z_k

    p (S, d) unit rows, z (S, N, d), h_center (S,), h_perturbed (S, N) -> (S, d).
    """
    h = h_perturbed - h_center[:, None] if variance_reduction else h_perturbed
    euclidean = ((h / (eps * z.shape[1]))[..., None] * z).sum(1)  # (S, d)
    return euclidean - (euclidean * p).sum(-1, keepdims=True) * p
