"""min-SWGG plans (Mahey et al. 2023): the plan induced by one direction, chosen at random or
optimised on the smoothed surrogate."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from sliceflow.optim import BatchedAdam
from sliceflow.ot.sliced._plans import smoothed_swgg_grad, swgg_orders
from sliceflow.random import randn, random_directions
from sliceflow.tasks.plan.methods import register_plan
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod

REFERENCE = (
    "Mahey et al. (2023), Fast optimal transport through sliced generalized Wasserstein geodesics"
)


class MinSWGGPlanConfig(PlanConfig):
    n_projections: int = Field(100, gt=0, description="random directions L, drawn once")


@register_plan("min_swgg")
class MinSWGGPlan(PlanMethod):
    """The cheapest plan among ``n_projections`` random directions, drawn once at step 0.

    .. math:: \\min_{l \\le L} \\frac1n \\sum_i \\|x_{\\sigma_l(i)} - y_{\\tau_l(i)}\\|^2

    (``ot.min_sliced_transport_plan``). A one-shot method: its plan does not change with the
    steps; to search longer, raise ``n_projections``.
    """

    Config = MinSWGGPlanConfig
    summary = "min-SWGG, best plan of L random directions (one shot)"
    reference = REFERENCE

    def __init__(self, config: MinSWGGPlanConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x, y = context.x, context.y
        theta = random_directions(
            context.generators, config.n_projections, x.shape[-1], dtype=x.dtype, device=x.device
        )  # (S, L, d)
        sigma, tau = swgg_orders(x, y, theta)  # (S, L, n)
        best = context.costs(sigma, tau).argmin(dim=1)  # (S,)
        rows = torch.arange(x.shape[0], device=x.device)
        self.sigma, self.tau = sigma[rows, best], tau[rows, best]

    def orders(self):
        return self.sigma, self.tau


class MinSWGGOptPlanConfig(PlanConfig):
    lr: float = Field(0.01, gt=0, description="Adam learning rate of theta")
    n_copies: int = Field(10, gt=0, description="blurred copies s of the smoothed surrogate")
    eps: float = Field(0.1, ge=0, description="blur: projections + 0.5 * eps * N(0, 1)")


@register_plan("min_swgg_opt")
class MinSWGGOptPlan(PlanMethod):
    """One direction optimised on min-SWGG's smoothed surrogate: one Adam step per step.

    .. math:: \\tilde F(\\theta) = -4 W(B_\\epsilon, Z) + 2 W(X_s, Z) + 2 W(Y_s, Z)

    (``sliceflow.ot.sliced.smoothed_swgg_grad``), theta renormalised before every step, as the
    reference's ``get_SWGG_smooth``. The plan is SWGG(theta)'s.
    """

    Config = MinSWGGOptPlanConfig
    summary = "min-SWGG, one direction optimised on the smoothed surrogate"
    reference = REFERENCE

    def __init__(self, config: MinSWGGOptPlanConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x = context.x
        self.theta = random_directions(
            context.generators, 1, x.shape[-1], dtype=x.dtype, device=x.device
        )[:, 0]  # (S, d)
        self.optimizer = BatchedAdam([self.theta], lr=config.lr)

    def orders(self):
        sigma, tau = swgg_orders(self.context.x, self.context.y, self.theta.unsqueeze(1))
        return sigma[:, 0], tau[:, 0]

    @torch.no_grad()
    def advance(self, last: bool) -> None:
        if last:
            return
        cfg, x, y = self.config, self.context.x, self.context.y
        self.theta /= self.theta.norm(dim=-1, keepdim=True)
        shape = (2, x.shape[1] * cfg.n_copies)
        noise = randn(self.context.generators, shape, dtype=x.dtype, device=x.device)
        _, grad = smoothed_swgg_grad(x, y, self.theta, 0.5 * cfg.eps * noise, with_value=False)
        self.optimizer.step([grad])
        self.theta /= self.theta.norm(dim=-1, keepdim=True)

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self.theta.clone(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta.copy_(state["theta"])
        self.optimizer.load_state_dict(state["optimizer"])
