"""min-SWGG on the Poincaré ball: random search over Busemann projections, geodesic plan cost."""

from __future__ import annotations

from functools import partial

import torch
from pydantic import Field

from sliceflow._kernels.chunked import is_large
from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig
from sliceflow.manifolds.poincare.math import (
    busemann_ratio,
    matched_sq_geodesic,
    squared_geodesic_cost,
)
from sliceflow.ot.sliced._plans import cheapest_plans, plan_costs
from sliceflow.ot.sliced._slicing import matched_indices
from sliceflow.random import random_directions


class MinSWGGBallConfig(FlowConfig):
    n_projections: int = Field(100, gt=0, description="ideal points searched, redrawn every step")


@register("min_swgg", manifold="poincare")
class MinSWGGBall(Flow):
    """The cheapest of L permutation plans given by sorting Busemann values (curvature -1 shown).

    .. math:: \\min_{l \\le L} \\frac1n \\sum_i d\\big(x_{\\sigma_{p_l}(i)},
              y_{\\tau_{p_l}(i)}\\big)^2, \\quad \\sigma_p, \\tau_p = \\operatorname{argsort}
              B_p(x), \\operatorname{argsort} B_p(y)

    with ``d`` the geodesic distance: the cost of a real transport plan, so ``>= W2^2``. Fresh
    uniform ideal points every step; the particle loss is the winning plan's cost,
    differentiated through the gathered points. L = 100 by default, as the other ball flows.
    """

    Config = MinSWGGBallConfig
    manifolds = frozenset({"poincare"})
    summary = "min-SWGG on the ball: best of L Busemann plans, squared geodesic cost"
    reference = (
        "Mahey, Chapel, Gasso, Bonet, Courty (2023), Fast optimal transport through sliced "
        "generalized Wasserstein geodesics"
    )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        c = ctx.manifold.c
        p = random_directions(
            ctx.generators, self.config.n_projections, x.shape[-1], dtype=x.dtype, device=x.device
        )  # (S, L, d)
        if is_large(x.shape[1], y.shape[1]):  # chunks of ideal points, plan costs summed directly
            costs = partial(_plan_costs, c=c)
            sigma, tau = cheapest_plans(x.detach(), y, p, partial(busemann_ratio, c=c), costs)
            return matched_sq_geodesic(x, y, sigma, tau, c)
        with torch.no_grad():
            xd, yd = x.detach(), y.detach()
            sigma, tau = matched_indices(busemann_ratio(xd, p, c), busemann_ratio(yd, p, c))
            best = plan_costs(squared_geodesic_cost(xd, yd, c), sigma, tau).argmin(dim=1)  # (S,)
            pick = best.view(-1, 1, 1).expand(-1, 1, sigma.shape[-1])
            sigma, tau = sigma.gather(1, pick)[:, 0], tau.gather(1, pick)[:, 0]  # (S, k)
        return matched_sq_geodesic(x, y, sigma, tau, c)


def _plan_costs(x, y, sigma, tau, c: float) -> torch.Tensor:
    """Squared geodesic costs of K plans of one seed: x (n, d), y (m, d), sigma/tau (K, k) ->
    (K,)."""
    count = sigma.shape[0]
    return matched_sq_geodesic(x.expand(count, -1, -1), y.expand(count, -1, -1), sigma, tau, c)
