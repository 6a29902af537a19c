"""The Poincaré ball of curvature ``K = -c < 0`` (default -1), over geoopt's ``PoincareBall``.

Pure functions first (geoopt style), then the thin manifold class the engine uses. Every
formula below is written for curvature -1 and rescaled for other curvatures: the ball of
curvature ``-c`` has radius ``1 / sqrt(c)``, and ``x -> sqrt(c) x`` is a similarity onto the unit
ball that multiplies distances by ``sqrt(c)``.

Lorentz model (curvature -1): ``<x, y>_L = -x0 y0 + sum_i xi yi``, hyperboloid ``<x, x>_L = -1``,
``x0 > 0``, origin ``(1, 0, ..., 0)``.
"""

from __future__ import annotations

from typing import Literal

import geoopt
import torch
from pydantic import Field

from sliceflow.manifolds import register_manifold
from sliceflow.manifolds.base import Manifold, ManifoldConfig

ACOSH_MIN = 1.0 + 1e-15  # arccosh argument clamp of the exact trace (METHODS.md)


# -- Lorentz model (curvature -1) -------------------------------------------------------------
def minkowski_inner(x: torch.Tensor, y: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Minkowski product ``<x, y>_L = -x_0 y_0 + sum_{i>=1} x_i y_i`` over the last axis."""
    product = x[..., 1:].mul(y[..., 1:]).sum(-1) - x[..., 0] * y[..., 0]
    return product.unsqueeze(-1) if keepdim else product


def lorentz_to_poincare(x: torch.Tensor) -> torch.Tensor:
    """Hyperboloid -> ball: ``x_{1:} / (1 + x_0)``; (..., d + 1) -> (..., d)."""
    return x[..., 1:] / (1.0 + x[..., :1])


def poincare_to_lorentz(x: torch.Tensor) -> torch.Tensor:
    """Ball -> hyperboloid: ``(1 + |x|^2, 2 x) / (1 - |x|^2)``; (..., d) -> (..., d + 1)."""
    sq = x.square().sum(-1, keepdim=True)
    return torch.cat([1.0 + sq, 2.0 * x], dim=-1) / (1.0 - sq)


def lorentz_origin(d: int, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """The origin ``(1, 0, ..., 0)`` of the hyperboloid in R^{d+1}."""
    origin = torch.zeros(d + 1, dtype=dtype, device=device)
    origin[0] = 1.0
    return origin


def parallel_transport_from_origin(mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Parallel transport of ``v`` (tangent at the origin, ``v_0 = 0``) to ``mu`` (hyperboloid).

    .. math:: PT_{x_0 \\to \\mu}(v) = v + \\frac{\\langle \\mu, v\\rangle_L}{1 - \\langle \\mu,
              x_0\\rangle_L} (x_0 + \\mu)

    mu (..., d + 1), v (..., d + 1) -> (..., d + 1).
    """
    origin = torch.zeros_like(mu)
    origin[..., 0] = 1.0
    coef = minkowski_inner(mu, v, keepdim=True) / (1.0 + mu[..., :1])  # 1 - <mu, x0>_L = 1 + mu0
    return v + coef * (origin + mu)


def lorentz_expmap(mu: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Exponential map on the hyperboloid at ``mu`` of the tangent vector ``u``.

    .. math:: \\exp_\\mu(u) = \\cosh(|u|_L)\\, \\mu + \\sinh(|u|_L)\\, u / |u|_L

    with ``|u|_L = sqrt(<u, u>_L)``; ``u = 0`` maps to ``mu``. (..., d + 1) -> (..., d + 1).
    """
    norm = minkowski_inner(u, u, keepdim=True).clamp_min(0.0).sqrt()
    safe = norm.clamp_min(1e-15)
    return torch.cosh(norm) * mu + torch.sinh(safe) * u / safe


def lorentz_logmap(mu: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`lorentz_expmap`: tangent vector at ``mu`` pointing to ``x``.

    .. math:: \\log_\\mu(x) = \\frac{\\operatorname{arccosh}(\\alpha)}{\\sqrt{\\alpha^2 - 1}}
              (x - \\alpha \\mu), \\quad \\alpha = -\\langle \\mu, x \\rangle_L
    """
    alpha = (-minkowski_inner(mu, x, keepdim=True)).clamp_min(ACOSH_MIN)
    return torch.arccosh(alpha) / (alpha.square() - 1.0).sqrt() * (x - alpha * mu)


# -- Poincaré ball -------------------------------------------------------------------------------
def geodesic_distance(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Geodesic distance on the ball of curvature ``-c``, broadcast over leading axes.

    .. math:: d(x, y) = \\frac{1}{\\sqrt c} \\operatorname{arccosh}\\Big(1 + \\frac{2 c |x - y|^2}
              {(1 - c|x|^2)(1 - c|y|^2)}\\Big)

    The arccosh argument is clamped at ``>= 1 + 1e-15``. (..., d), (..., d) -> (...).
    """
    return squared_distance_argument(x, y, c).arccosh() / c**0.5


def squared_distance_argument(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """The clamped arccosh argument ``1 + 2c|x - y|^2 / ((1 - c|x|^2)(1 - c|y|^2))``."""
    gap = (x - y).square().sum(-1)
    den = (1.0 - c * x.square().sum(-1)) * (1.0 - c * y.square().sum(-1))
    return (1.0 + 2.0 * c * gap / den).clamp_min(ACOSH_MIN)


def squared_geodesic_cost(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Pairwise ``d(x_i, y_j)^2``: (..., n, d), (..., m, d) -> (..., n, m)."""
    return geodesic_distance(x.unsqueeze(-2), y.unsqueeze(-3), c).square()


class PoincareConfig(ManifoldConfig):
    curvature: float = Field(-1.0, lt=0, description="sectional curvature K = -c (must be < 0)")
    step_map: Literal["expmap", "retr"] = Field(
        "expmap",
        description="particle step: exact exp map (METHODS.md) or geoopt's first-order "
        "retraction x + u (what RiemannianSGD does on PoincareBall); both then project",
    )


@register_manifold
class PoincareBall(Manifold):
    """Poincaré ball over geoopt (``geoopt.PoincareBall(c = -curvature)``), float64 by default.

    Particle step (RiemannianSGD(stabilize=1) with the exact exponential map):

    .. math:: x \\leftarrow \\operatorname{proj}\\Big(\\exp_x\\big(-lr \\frac{(1 - c|x|^2)^2}{4}
              \\nabla_E\\big)\\Big)

    ``proj`` rescales points beyond radius ``(1 - eps) / sqrt(c)`` (geoopt: eps 4e-3 in float32,
    1e-5 in float64), so a particle never reaches the boundary.
    """

    name = "poincare"
    Config = PoincareConfig
    default_dtype = torch.float64
    summary = "Poincaré ball (curvature -c); Riemannian SGD step, squared geodesic cost"
    # METHODS.md: a non-finite particle keeps its previous position and is counted; a seed is
    # reported diverged only when its particles keep failing (this many steps in a row).
    nonfinite_patience = 10

    def __init__(self, config: PoincareConfig | None = None) -> None:
        super().__init__(config)
        self.c = -float(self.config.curvature)
        # c as a float64 tensor: geoopt stores softplus^{-1}(c), which float32 would round.
        self.ball = geoopt.PoincareBall(c=torch.tensor(self.c, dtype=torch.float64))

    def egrad2rgrad(self, x: torch.Tensor, egrad: torch.Tensor) -> torch.Tensor:
        """``(1 - c|x|^2)^2 / 4 * egrad`` (inverse of the conformal factor squared)."""
        return self.ball.egrad2rgrad(x, egrad)

    def expmap(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Exact exponential map (geoopt, Möbius addition), projected inside the ball."""
        return self.ball.expmap(x, u, project=True)

    def projx(self, x: torch.Tensor) -> torch.Tensor:
        return self.ball.projx(x)

    def step(self, x: torch.Tensor, egrad: torch.Tensor, lr: float) -> torch.Tensor:
        u = -lr * self.egrad2rgrad(x, egrad)
        moved = self.expmap(x, u) if self.config.step_map == "expmap" else self.ball.retr(x, u)
        return self.projx(moved)  # stabilize=1

    def cost_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Squared geodesic cost (clamped arccosh): (..., n, d), (..., m, d) -> (..., n, m)."""
        return squared_geodesic_cost(x, y, self.c)

    def validate_points(self, points: torch.Tensor, where: str) -> None:
        """``ValueError`` naming the first row not finite or not strictly inside the ball."""
        super().validate_points(points, where)
        flat = points.reshape(-1, points.shape[-1])
        norms = flat.double().norm(dim=-1)
        radius = 1.0 / self.c**0.5
        outside = norms >= radius
        if outside.any():
            row = int(outside.nonzero()[0])
            raise ValueError(
                f"{where}: row {row} has norm {float(norms[row]):.6g} >= {radius:.6g}, at or "
                f"outside the boundary of the Poincaré ball of curvature {-self.c:g}; give points "
                "strictly inside the ball (convert hyperboloid coordinates with "
                "lorentz_to_poincare, or rescale the points)"
            )
