"""min-SWGG plans (Mahey et al. 2023): the plan induced by one direction, chosen at random or
optimised on the smoothed surrogate (the solvers of :mod:`sliceflow.ot.sliced`)."""

from __future__ import annotations

from typing import Any

from sliceflow.ot.sliced import (
    SQUARED_EUCLIDEAN,
    MinSWGGConfig,
    SWGGOptConfig,
    SWGGOptimizer,
    min_swgg_plan,
)
from sliceflow.random import random_directions
from sliceflow.tasks.plan.methods import register_plan
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod

REFERENCE = (
    "Mahey et al. (2023), Fast optimal transport through sliced generalized Wasserstein geodesics"
)

MinSWGGPlanConfig = MinSWGGConfig.with_defaults(
    "MinSWGGPlanConfig", {"n_projections": 100}, module=__name__, bases=(PlanConfig,),
    doc="min-SWGG as a plan method: 100 random directions, the DGSWP paper's Fig. 1.",
)  # fmt: skip
MinSWGGOptPlanConfig = SWGGOptConfig.with_defaults(
    "MinSWGGOptPlanConfig", {"inner_steps": 1}, module=__name__, bases=(PlanConfig,),
    doc="min-SWGG-opt as a plan method: one Adam step on theta per plan step.",
)  # fmt: skip


@register_plan("min_swgg")
class MinSWGGPlan(PlanMethod):
    """The cheapest plan among ``n_projections`` random directions, drawn once at step 0.

    .. math:: \\min_{l \\le L} \\frac1n \\sum_i \\|x_{\\sigma_l(i)} - y_{\\tau_l(i)}\\|^2

    (:func:`sliceflow.ot.sliced.min_swgg_plan`, priced by the task's shared plan costs). A
    one-shot method: its plan does not change with the steps; to search longer, raise
    ``n_projections``.
    """

    Config = MinSWGGPlanConfig
    summary = "min-SWGG, best plan of L random directions (one shot)"
    reference = REFERENCE

    def __init__(self, config: MinSWGGConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x, y = context.x, context.y
        theta = random_directions(context.generators, config.n_projections, x.shape[-1],
                                  dtype=x.dtype, device=x.device)  # fmt: skip
        costs = SQUARED_EUCLIDEAN.prepared(context.costs)  # the task's own (by coordinate or Gram)
        self.sigma, self.tau = min_swgg_plan(x, y, theta, cost=costs)

    def orders(self):
        return self.sigma, self.tau


@register_plan("min_swgg_opt")
class MinSWGGOptPlan(PlanMethod):
    """One direction optimised on min-SWGG's smoothed surrogate, ``inner_steps`` Adam steps per
    step (:class:`sliceflow.ot.sliced.SWGGOptimizer`, Adam never reset).

    .. math:: \\tilde F(\\theta) = -4 W(B_\\epsilon, Z) + 2 W(X_s, Z) + 2 W(Y_s, Z)

    theta renormalised before every step, as the reference's ``get_SWGG_smooth``. The plan is
    SWGG(theta)'s.
    """

    Config = MinSWGGOptPlanConfig
    summary = "min-SWGG, one direction optimised on the smoothed surrogate"
    reference = REFERENCE

    def __init__(self, config: SWGGOptConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x = context.x
        self.solver = SWGGOptimizer(config, context.generators, x.shape[-1], dtype=x.dtype,
                                    device=x.device)  # fmt: skip

    def orders(self):
        return self.solver.orders(self.context.x, self.context.y)

    def advance(self, last: bool) -> None:
        if not last:
            self.solver.fit(self.context.x, self.context.y)

    def state_dict(self) -> dict[str, Any]:
        return self.solver.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.solver.load_state_dict(state)
