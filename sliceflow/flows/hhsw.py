"""HHSW: horospherical sliced Wasserstein on the Poincaré ball (Bonet et al. 2023)."""

from __future__ import annotations

from functools import partial

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig
from sliceflow.manifolds.poincare.math import busemann
from sliceflow.ot.sliced._slicing import sliced_w2_projected
from sliceflow.random import random_directions


class HHSWConfig(FlowConfig):
    n_projections: int = Field(100, gt=0, description="ideal points L, redrawn every step")


@register("hhsw")
class HHSW(Flow):
    """Mean over L fresh uniform ideal points p of the 1D W2^2 of the Busemann values.

    .. math:: HHSW_2^2(\\mu, \\nu) = \\frac1L \\sum_{l=1}^L W_2^2(B_{p_l\\#}\\mu, B_{p_l\\#}\\nu),
              \\quad B_p(x) = \\log\\frac{|p - x|^2}{1 - |x|^2}

    (curvature -1; ratio clamped >= 1e-10). Paper setting (DGSWP Fig. 5): L = 100, lr 2.5.
    Large clouds are sliced in chunks of ideal points (bounded memory).
    """

    Config = HHSWConfig
    manifolds = frozenset({"poincare"})
    summary = "horospherical SW on the ball: Busemann projections, L fresh ideal points per step"
    reference = (
        "Bonet, Chapel, Drumetz, Courty (2023), Hyperbolic sliced-Wasserstein via geodesic and "
        "horospherical projections"
    )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        p = random_directions(
            ctx.generators, self.config.n_projections, x.shape[-1], dtype=x.dtype, device=x.device
        )  # (S, L, d)
        return sliced_w2_projected(x, y, p, partial(busemann, c=ctx.manifold.c))
