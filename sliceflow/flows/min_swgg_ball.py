"""min-SWGG on the Poincaré ball: random search over Busemann projections, geodesic plan cost."""

from __future__ import annotations

from functools import partial

import torch

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig
from sliceflow.manifolds.poincare.math import busemann_ratio, matched_sq_geodesic
from sliceflow.ot.sliced import MinSWGGConfig, min_swgg_plan, squared_geodesic_plan_cost
from sliceflow.random import random_directions

MinSWGGBallConfig = MinSWGGConfig.with_defaults(
    "MinSWGGBallConfig", {"n_projections": 100}, module=__name__, bases=(FlowConfig,),
    doc="The particles' lr and min-SWGG's n_projections: 100, as the other ball flows.",
)  # fmt: skip


@register("min_swgg", manifold="poincare")
class MinSWGGBall(Flow):
    """The cheapest of L permutation plans given by sorting Busemann values (curvature -c).

    .. math:: \\min_{l \\le L} \\frac1n \\sum_i d\\big(x_{\\sigma_{p_l}(i)},
              y_{\\tau_{p_l}(i)}\\big)^2, \\quad \\sigma_p, \\tau_p = \\operatorname{argsort}
              B_p(x), \\operatorname{argsort} B_p(y)

    with ``d`` the geodesic distance: the cost of a real transport plan, so ``>= W2^2``. Fresh
    uniform ideal points every step (:func:`sliceflow.ot.sliced.min_swgg_plan` with the
    Busemann order and :func:`~sliceflow.ot.sliced.squared_geodesic_plan_cost`); the particle
    loss is the winning plan's cost, differentiated through the gathered points.
    """

    Config = MinSWGGBallConfig
    manifolds = frozenset({"poincare"})
    summary = "min-SWGG on the ball: best of L Busemann plans, squared geodesic cost"
    reference = (
        "Mahey, Chapel, Gasso, Bonet, Courty (2023), Fast optimal transport through sliced "
        "generalized Wasserstein geodesics"
    )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.context.manifold.c
        p = random_directions(self.context.generators, self.config.n_projections, x.shape[-1],
                              dtype=x.dtype, device=x.device)  # fmt: skip
        order = partial(busemann_ratio, c=c)  # monotone in B_p: the Busemann order, no log
        sigma, tau = min_swgg_plan(x, y, p, order, squared_geodesic_plan_cost(c))
        return matched_sq_geodesic(x, y, sigma, tau, c)
