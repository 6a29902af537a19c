"""min-SWGG (Mahey et al. 2023) as particle flows: the cheapest of L fresh plans, or the plan of
one direction optimised on the smoothed surrogate (the solvers of :mod:`sliceflow.ot.sliced`)."""

from __future__ import annotations

from typing import Any

import torch

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.ot.sliced import (
    MinSWGGConfig,
    SWGGOptConfig,
    SWGGOptimizer,
    check_equal_sizes,
    min_swgg_plan,
    plan_cost,
)
from sliceflow.random import random_directions

REFERENCE = (
    "Mahey et al. (2023), Fast optimal transport through sliced generalized Wasserstein geodesics"
)


class MinSWGGFlowConfig(MinSWGGConfig, FlowConfig):
    """The particles' ``lr`` and min-SWGG's ``n_projections`` (directions redrawn every step)."""


@register("min_swgg")
class MinSWGG(Flow):
    """min-SWGG by random search: the best of ``n_projections`` fresh directions.

    .. math:: \\min_{l} \\frac1n \\sum_i \\|x_{\\sigma_l(i)} - y_{\\tau_l(i)}\\|^2

    where ``sigma_l, tau_l`` sort the projections on theta_l (``ot.min_sliced_transport_plan``),
    by :func:`sliceflow.ot.sliced.min_swgg_plan` on detached clouds; the loss is differentiated
    through the matched points of the winning plan (a real transport plan, so its cost is >=
    W2^2): SWGG of the winning direction.
    """

    Config = MinSWGGFlowConfig
    summary = "min-SWGG, best permutation plan over L fresh random directions"
    reference = REFERENCE

    def __init__(self, config: MinSWGGFlowConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        check_equal_sizes(context.n, context.m, "min_swgg")

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        theta = random_directions(self.context.generators, self.config.n_projections,
                                  x.shape[-1], dtype=x.dtype, device=x.device)  # fmt: skip
        return plan_cost(x, y, *min_swgg_plan(x, y, theta, reproject=True))


class MinSWGGOptFlowConfig(SWGGOptConfig, FlowConfig):
    """The particles' ``lr`` and the surrogate's settings (``inner_lr`` is theta's Adam rate)."""


@register("min_swgg_opt")
class MinSWGGOpt(Flow):
    """min-SWGG optimised on its smoothed surrogate, theta warm-started across flow steps.

    .. math:: \\tilde F(\\theta) = -4 W(B_\\epsilon, Z) + 2 W(X_s, Z) + 2 W(Y_s, Z)

    Each flow step runs :class:`sliceflow.ot.sliced.SWGGOptimizer` for ``inner_steps`` from the
    previous theta with a fresh Adam (the reference's ``get_SWGG_smooth``). Particle loss:
    SWGG(theta) without blur. Only theta is saved: Adam restarts at every flow step.
    """

    Config = MinSWGGOptFlowConfig
    summary = "min-SWGG, one direction optimised on the smoothed surrogate (warm-started)"
    reference = REFERENCE

    def __init__(self, config: MinSWGGOptFlowConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        check_equal_sizes(context.n, context.m, "min_swgg_opt")
        self.solver = SWGGOptimizer(config, context.generators, context.d, dtype=context.dtype,
                                    device=context.device)  # fmt: skip

    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.solver.fit(x, y, restart=True)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.solver.cost(x, y)

    def state_dict(self) -> dict[str, Any]:
        return self.solver.state_dict(optimizer=False)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.solver.load_state_dict(state)
