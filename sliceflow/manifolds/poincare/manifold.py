"""The Poincaré ball of curvature ``K = -c < 0`` (default -1), over geoopt's ``PoincareBall``.

A thin class over geoopt and the pure functions of :mod:`sliceflow.manifolds.poincare.math`
(geoopt style:
maths as plain functions, the manifold as a thin object over them). The ball of curvature ``-c``
has radius ``1 / sqrt(c)``, and ``x -> sqrt(c) x`` is a similarity onto the unit ball that
multiplies distances by ``sqrt(c)``.
"""

from __future__ import annotations

from typing import Literal

import geoopt
import torch
from pydantic import Field

from sliceflow.manifolds import register_manifold
from sliceflow.manifolds.base import Drawing, Manifold, ManifoldConfig
from sliceflow.manifolds.poincare.math import busemann, geodesic_distance, squared_geodesic_cost


class PoincareConfig(ManifoldConfig):
    curvature: float = Field(-1.0, lt=0, description="sectional curvature K = -c (must be < 0)")
    step_map: Literal["expmap", "retr"] = Field(
        "expmap",
        description="particle step: exact exponential map, or geoopt's first-order "
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
    # A non-finite particle keeps its previous position and is counted; a seed is
    # reported diverged only when its particles keep failing (this many steps in a row).
    nonfinite_patience = 10
    sliced_distance = "horospherical SW2^2"
    slice_name = "ideal point"

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

    def logmap(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.ball.logmap(x, y)

    def norm(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``lambda_x |u|`` with the conformal factor ``lambda_x = 2 / (1 - c|x|^2)``."""
        return self.ball.norm(x, u)

    def projx(self, x: torch.Tensor) -> torch.Tensor:
        return self.ball.projx(x)

    def dist(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return geodesic_distance(x, y, self.c)

    def step(self, x: torch.Tensor, egrad: torch.Tensor, lr: float) -> torch.Tensor:
        u = -lr * self.egrad2rgrad(x, egrad)
        moved = self.expmap(x, u) if self.config.step_map == "expmap" else self.ball.retr(x, u)
        return self.projx(moved)  # stabilize=1

    def cost_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Squared geodesic cost (clamped arccosh): (..., n, d), (..., m, d) -> (..., n, m)."""
        return squared_geodesic_cost(x, y, self.c)

    def slice_values(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Busemann functions of the ideal points theta (the horospherical slices of HHSW)."""
        return busemann(x, theta, self.c)

    def drawing(self) -> Drawing:
        """The disk of radius ``1 / sqrt(c)``, drawn with a fixed view just around it."""
        radius = 1.0 / self.c**0.5
        return Drawing(boundary_radius=radius, extent=1.03 * radius, distance="geodesic W2^2")

    def validate_points(self, points: torch.Tensor, where: str) -> None:
        """``ValueError`` naming the first row not finite or not strictly inside the ball.

        Points in a dtype coarser than float64 are checked as the maths computes them:
        ``1 - c|x|^2`` must stay positive in that dtype (float32 rounds radius ``1 - 1e-8`` to 1).
        """
        super().validate_points(points, where)
        flat = points.reshape(-1, points.shape[-1])
        norms = flat.double().norm(dim=-1)
        radius = 1.0 / self.c**0.5
        outside = norms >= radius
        rounded = points.dtype != torch.float64
        if rounded:  # as busemann_ratio computes c|x|^2
            scaled = flat * self.c**0.5 if self.c != 1.0 else flat
            outside |= scaled.square().sum(-1) >= 1.0
        if not outside.any():
            return
        row = int(outside.nonzero()[0])
        boundary = f"the boundary of the Poincaré ball of curvature {-self.c:g}"
        if rounded:
            dtype = str(points.dtype).removeprefix("torch.")
            raise ValueError(
                f"{where}: row {row} has norm {float(norms[row]):.9g} in {dtype}, on or outside "
                f"{boundary} (radius {radius:.6g}) once rounded to {dtype}; give points strictly "
                f"inside the ball in {dtype}: set dtype: float64, or move the points inward"
            )
        raise ValueError(
            f"{where}: row {row} has norm {float(norms[row]):.6g} >= {radius:.6g}, at or "
            f"outside {boundary}; give points strictly inside the ball (convert hyperboloid "
            "coordinates with sliceflow.manifolds.poincare.math.lorentz_to_poincare, or rescale "
            "the points)"
        )
