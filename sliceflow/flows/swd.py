"""SWD: sliced Wasserstein with fresh random directions at every step (Bonneel et al. 2015)."""

from __future__ import annotations

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig
from sliceflow.ot.sliced._slicing import sliced_wasserstein2
from sliceflow.random import random_directions


class SWDConfig(FlowConfig):
    n_projections: int = Field(20, gt=0, description="directions L, redrawn every step")


@register("swd")
class SWD(Flow):
    """Monte-Carlo SW_2^2 over ``n_projections`` fresh uniform directions, averaged over particles.

    .. math:: SW_2^2 = \\frac1L \\sum_l W_2^2(P_{\\theta_l\\#}\\mu, P_{\\theta_l\\#}\\nu)

    On the Poincaré ball this is "SW on Poincaré": Euclidean slicing of the ball coordinates,
    moved with the Riemannian step of the manifold.
    """

    Config = SWDConfig
    manifolds = frozenset({"euclidean", "poincare"})
    summary = "sliced Wasserstein, L fresh random directions per step"
    reference = "Bonneel, Rabin, Peyré, Pfister (2015), Sliced and Radon Wasserstein barycenters"

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        theta = random_directions(
            ctx.generators, self.config.n_projections, x.shape[-1], dtype=x.dtype, device=x.device
        )  # (S, L, d)
        return sliced_wasserstein2(x, y, theta)
