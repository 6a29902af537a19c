"""GHSW: geodesic-projection hyperbolic sliced Wasserstein on the ball (Bonet et al. 2023)."""

from __future__ import annotations

from functools import partial

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig
from sliceflow.manifolds.poincare.math import geodesic_coordinate
from sliceflow.ot.sliced._slicing import sliced_w2_projected
from sliceflow.random import random_directions


class GHSWConfig(FlowConfig):
    n_projections: int = Field(100, gt=0, description="geodesics L, redrawn every step")


@register("ghsw")
class GHSW(Flow):
    """Mean over L fresh geodesics through the origin of the 1D W2^2 of the geodesic coordinates.

    .. math:: GHSW_2^2(\\mu, \\nu) = \\frac1L \\sum_{l=1}^L W_2^2(t_{v_l\\#}\\mu, t_{v_l\\#}\\nu),
              \\quad t_v(x) = \\operatorname{arctanh}\\frac{\\langle x^L_{1:}, v\\rangle}{x^L_0}
              = \\operatorname{arctanh}\\frac{2\\langle x, v\\rangle}{1 + |x|^2}

    (curvature -1, ``x^L`` the hyperboloid point of x; argument clamped to +-(1 - 1e-15)).
    ``t_v(x)`` is the signed distance from the origin of the orthogonal projection of x on the
    geodesic of direction v. L = 100 by default, as the other ball flows.
    """

    Config = GHSWConfig
    manifolds = frozenset({"poincare"})
    summary = "geodesic-projection hyperbolic SW on the ball, L fresh geodesics per step"
    reference = (
        "Bonet, Chapel, Drumetz, Courty (2023), Hyperbolic sliced-Wasserstein via geodesic and "
        "horospherical projections"
    )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        v = random_directions(
            ctx.generators, self.config.n_projections, x.shape[-1], dtype=x.dtype, device=x.device
        )  # (S, L, d)
        return sliced_w2_projected(x, y, v, partial(geodesic_coordinate, c=ctx.manifold.c))
