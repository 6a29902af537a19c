"""DGSWP: differentiable generalised sliced Wasserstein plans (2025), Euclidean version."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.ot.draws import randn
from sliceflow.ot.optim import BatchedAdam
from sliceflow.ot.plans import PlanCosts, check_equal_sizes, plan_cost
from sliceflow.ot.projections import (
    LowRankMLPSmoothing,
    evaluate,
    init_parameters,
    stein_gradient,
)
from sliceflow.ot.slicing import argsort_rows


class DGSWPConfig(FlowConfig):
    projection: Literal["linear", "mlp"] = Field("linear", description="projection model m_phi")
    hidden: int = Field(256, gt=0, description="hidden width of the mlp projection")
    n_perturbations: int = Field(10, gt=0, description="Stein samples N per inner step")
    eps: float = Field(0.05, gt=0, description="Gaussian smoothing scale of the parameters")
    inner_steps: int = Field(20, ge=0, description="Adam steps on phi per flow step")
    inner_lr: float = Field(0.01, gt=0, description="Adam learning rate of phi")
    keep_best: bool = Field(False, description="keep the inner iterate with the lowest plan cost")


@register("dgswp")
class DGSWP(Flow):
    """Permutation plan induced by a learned projection, found by Stein-smoothed descent.

    .. math:: h(\\phi) = \\frac1n \\sum_i \\|x_{\\sigma_\\phi(i)} - y_{\\tau_\\phi(i)}\\|^2,
              \\quad \\nabla h_\\epsilon(\\phi) \\approx \\frac1N \\sum_{k=1}^N
              \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k

    ``sigma_phi, tau_phi`` sort ``m_phi(x)`` and ``m_phi(y)``. The inner loop needs only values
    of h: the current model and its N perturbations are evaluated for all seeds in one batched
    computation, and the N+1 plan costs are gathers from the Gram matrix ``x y^T``. phi and its
    Adam state persist across flow steps. ``keep_best`` restores (a copy of) the inner iterate
    with the lowest h, final iterate included. For an MLP in dimension d + 1 > n + m the
    perturbations are sampled in the span of the points (``LowRankMLPSmoothing``: the same
    estimator in distribution, about (d+1)/(n+m) times cheaper). Particle loss: ``h(phi)``
    differentiated through the matched points.
    """

    Config = DGSWPConfig
    summary = "differentiable generalised sliced Wasserstein plan (linear or MLP projection)"
    reference = (
        "Differentiable generalized sliced Wasserstein plans (2025), github.com/rtavenar/dgswp"
    )

    def __init__(self, config: DGSWPConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        check_equal_sizes(context.n, context.m, "dgswp")
        self.params = init_parameters(
            config.projection,
            context.d,
            config.hidden,
            context.generators,
            dtype=context.dtype,
            device=context.device,
        )  # (S, P)
        self.optimizer = BatchedAdam([self.params], lr=config.inner_lr)

    def _orders(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
        """Orderings of x and y under K models per seed: (S, K, P) -> 2 x (S, K, n)."""
        n = x.shape[1]
        values = evaluate(self.config.projection, params, torch.cat([x, y], 1), self.config.hidden)
        return argsort_rows(values[..., :n]), argsort_rows(values[..., n:])

    def _perturbations(self) -> torch.Tensor:
        shape = (self.config.n_perturbations, self.params.shape[-1])
        params = self.params
        return randn(self.context.generators, shape, dtype=params.dtype, device=params.device)

    def _stein_step(self, x, y, costs, low_rank):
        """Plan costs of phi and its N perturbations (S, N+1) and the Stein gradient (S, P)."""
        cfg, p = self.config, self.params
        if low_rank is not None:
            draws = low_rank.draw(self.context.generators, cfg.n_perturbations, p.dtype, p.device)
            values = low_rank.values(p, draws, cfg.eps)  # (S, N+1, n+m)
            n = x.shape[1]
            h = costs(argsort_rows(values[..., :n]), argsort_rows(values[..., n:]))
            return h, low_rank.gradient(h, draws, cfg.eps)
        z = self._perturbations()  # (S, N, P)
        models = torch.cat([p.unsqueeze(1), p.unsqueeze(1) + cfg.eps * z], 1)  # (S, N+1, P)
        h = costs(*self._orders(models, x, y))  # (S, N+1), float64
        return h, stein_gradient(h, z, cfg.eps)

    @torch.no_grad()
    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        cfg = self.config
        costs = PlanCosts(x, y)
        low_rank = None
        if cfg.projection == "mlp" and x.shape[-1] + 1 > x.shape[1] + y.shape[1]:
            low_rank = LowRankMLPSmoothing(torch.cat([x, y], 1), cfg.hidden)
        best_cost, best_params = None, None
        for _ in range(cfg.inner_steps):
            h, grad = self._stein_step(x, y, costs, low_rank)
            if cfg.keep_best:
                best_cost, best_params = self._remember(h[:, 0], best_cost, best_params)
            self.optimizer.step([grad])
        if cfg.keep_best and best_cost is not None:
            final = costs(*self._orders(self.params.unsqueeze(1), x, y))[:, 0]
            best_cost, best_params = self._remember(final, best_cost, best_params)
            self.params.copy_(best_params)

    def _remember(self, cost, best_cost, best_params):
        """Lowest cost so far and a copy (never an alias) of the parameters that reached it."""
        if best_cost is None:
            return cost, self.params.clone()
        better = cost < best_cost  # (S,)
        return torch.where(better, cost, best_cost), torch.where(
            better[:, None], self.params, best_params
        )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            sigma, tau = self._orders(self.params.unsqueeze(1), x.detach(), y.detach())
        return plan_cost(x, y, sigma[:, 0], tau[:, 0])

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params.clone(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.params.copy_(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])
