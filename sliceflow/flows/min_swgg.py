"""min-SWGG (Mahey et al. 2023): the cheapest permutation plan induced by a direction."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from sliceflow._kernels.chunked import is_large, linear_projection
from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.optim import BatchedAdam
from sliceflow.ot.sliced._plans import (
    PlanCosts,
    cheapest_plans,
    check_equal_sizes,
    plan_cost,
    smoothed_swgg_grad,
    squared_euclidean_plan_costs,
    swgg_orders,
)
from sliceflow.random import randn, random_directions

REFERENCE = (
    "Mahey et al. (2023), Fast optimal transport through sliced generalized Wasserstein geodesics"
)


def swgg_loss(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``SWGG(theta) = mean_i |x_sigma(i) - y_tau(i)|^2`` per seed; theta (S, d) -> (S,)."""
    sigma, tau = swgg_orders(x, y, theta.unsqueeze(1))  # (S, 1, n)
    return plan_cost(x, y, sigma[:, 0], tau[:, 0])


def best_direction(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The direction of lowest SWGG cost among theta (S, L, d) -> (S, d)."""
    costs = PlanCosts(x, y)(*swgg_orders(x, y, theta))  # (S, L)
    best = costs.argmin(dim=1)  # (S,)
    return theta[torch.arange(theta.shape[0], device=theta.device), best]


class MinSWGGConfig(FlowConfig):
    n_projections: int = Field(20, gt=0, description="directions L, redrawn every step")


@register("min_swgg")
class MinSWGG(Flow):
    """min-SWGG by random search: the best of ``n_projections`` fresh directions.

    .. math:: \\min_{l} \\frac1n \\sum_i \\|x_{\\sigma_l(i)} - y_{\\tau_l(i)}\\|^2

    where ``sigma_l, tau_l`` sort the projections on theta_l (``ot.min_sliced_transport_plan``).
    The direction is chosen on detached clouds; the loss is differentiated through the matched
    points of its plan (a real transport plan, so its cost is >= W2^2). Large clouds search the
    directions in chunks, with the plans' costs summed directly (no n x n Gram matrix).
    """

    Config = MinSWGGConfig
    summary = "min-SWGG, best permutation plan over L fresh random directions"
    reference = REFERENCE

    def __init__(self, config: MinSWGGConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        check_equal_sizes(context.n, context.m, "min_swgg")

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        theta = random_directions(
            ctx.generators, self.config.n_projections, x.shape[-1], dtype=x.dtype, device=x.device
        )  # (S, L, d)
        if is_large(x.shape[1], y.shape[1]):
            plan = cheapest_plans(x.detach(), y, theta, linear_projection,
                                  squared_euclidean_plan_costs)  # fmt: skip
            return plan_cost(x, y, *plan)
        return swgg_loss(x, y, best_direction(x, y, theta))


class MinSWGGOptConfig(FlowConfig):
    inner_steps: int = Field(20, ge=0, description="Adam steps on theta per flow step")
    inner_lr: float = Field(0.01, gt=0, description="Adam learning rate of theta")
    n_copies: int = Field(10, gt=0, description="blurred copies s of the smoothed surrogate")
    eps: float = Field(0.1, ge=0, description="blur: projections + 0.5 * eps * N(0, 1)")


@register("min_swgg_opt")
class MinSWGGOpt(Flow):
    """min-SWGG optimised on its smoothed surrogate, theta warm-started across flow steps.

    .. math:: \\tilde F(\\theta) = -4 W(B_\\epsilon, Z) + 2 W(X_s, Z) + 2 W(Y_s, Z)

    (see ``_plans.smoothed_swgg_grad``; with s = 1, eps = 0 it equals SWGG(theta)). Each flow step
    runs the reference's ``get_SWGG_smooth`` from the previous theta: a fresh Adam, and theta
    renormalised before every inner step. Closed-form gradient (only Z depends on theta).
    Particle loss: SWGG(theta) without blur.
    """

    Config = MinSWGGOptConfig
    summary = "min-SWGG, one direction optimised on the smoothed surrogate (warm-started)"
    reference = REFERENCE

    def __init__(self, config: MinSWGGOptConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        check_equal_sizes(context.n, context.m, "min_swgg_opt")
        self.theta = random_directions(
            context.generators, 1, context.d, dtype=context.dtype, device=context.device
        )[:, 0]  # (S, d)
        self.optimizer = BatchedAdam([self.theta], lr=config.inner_lr)

    @torch.no_grad()
    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        cfg = self.config
        self.optimizer.reset()
        blur_shape = (2, x.shape[1] * cfg.n_copies)
        for _ in range(cfg.inner_steps):
            self.theta /= self.theta.norm(dim=-1, keepdim=True)
            noise = randn(self.context.generators, blur_shape, dtype=x.dtype, device=x.device)
            _, grad = smoothed_swgg_grad(x, y, self.theta, 0.5 * cfg.eps * noise, with_value=False)
            self.optimizer.step([grad])
        self.theta /= self.theta.norm(dim=-1, keepdim=True)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return swgg_loss(x, y, self.theta)

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self.theta.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta.copy_(state["theta"])
