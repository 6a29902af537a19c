"""DGSWP: differentiable generalised sliced Wasserstein plans (2025), Euclidean version."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.ot.sliced._dgswp import DGSWPSolver
from sliceflow.ot.sliced._plans import check_equal_sizes, plan_cost


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

    ``sigma_phi, tau_phi`` sort ``m_phi(x)`` and ``m_phi(y)``. Each flow step runs
    ``inner_steps`` Adam steps of the shared solver (``sliceflow.ot.sliced.DGSWPSolver``: the
    current model and its N perturbations in one batched computation, variance-reduced Stein
    estimator, low-rank sampling for an MLP in dimension d + 1 > n + m) on detached clouds; phi
    and its Adam state persist across flow steps. ``keep_best`` restores (a copy of) the inner
    iterate with the lowest h, final iterate included. Particle loss: ``h(phi)`` differentiated
    through the matched points.
    """

    Config = DGSWPConfig
    summary = "differentiable generalised sliced Wasserstein plan (linear or MLP projection)"
    reference = (
        "Differentiable generalized sliced Wasserstein plans (2025), github.com/rtavenar/dgswp"
    )

    def __init__(self, config: DGSWPConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        check_equal_sizes(context.n, context.m, "dgswp")
        self.solver = DGSWPSolver(
            config.projection,
            config.hidden,
            context.d,
            context.generators,
            dtype=context.dtype,
            device=context.device,
            eps=config.eps,
            n_perturbations=config.n_perturbations,
            optimizer="adam",
            lr=config.inner_lr,
            keep_best=config.keep_best,
        )

    @property
    def params(self) -> torch.Tensor:
        """The flat projection parameters (S, P)."""
        return self.solver.params

    @torch.no_grad()
    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.solver.fit(x, y, self.config.inner_steps)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sigma, tau = self.solver.orders(x, y)
        return plan_cost(x, y, sigma, tau)

    def state_dict(self) -> dict[str, Any]:
        return self.solver.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.solver.load_state_dict(state)
