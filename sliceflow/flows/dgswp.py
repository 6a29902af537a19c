"""DGSWP: differentiable generalised sliced Wasserstein plans (2025), the particle flow in R^d."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver, check_equal_sizes


class DGSWPFlowConfig(DGSWPConfig, FlowConfig):
    """A flow's DGSWP: the solver's keys (the paper's Fig. 4 defaults), the particle ``lr`` and
    the solver steps per flow step."""

    projections = ("linear", "mlp")
    inner_steps: int = Field(20, ge=0, description="solver steps on the projection per flow step")


@register("dgswp")
class DGSWP(Flow):
    """Permutation plan induced by a learned projection, found by smoothed descent.

    .. math:: h(\\phi) = \\frac1n \\sum_i \\|x_{\\sigma_\\phi(i)} - y_{\\tau_\\phi(i)}\\|^2,
              \\quad \\nabla h_\\epsilon(\\phi) \\approx \\frac1N \\sum_{k=1}^N
              \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k

    ``sigma_phi, tau_phi`` sort ``m_phi(x)`` and ``m_phi(y)``. Each flow step runs
    ``inner_steps`` steps of ``sliceflow.ot.sliced.DGSWPSolver`` on detached clouds; the
    projection and its optimiser state persist across flow steps. Particle loss: ``h(phi)``
    differentiated through the matched points.
    """

    Config = DGSWPFlowConfig
    summary = "differentiable generalised sliced Wasserstein plan (linear or MLP projection)"
    reference = (
        "Differentiable generalized sliced Wasserstein plans (2025), github.com/rtavenar/dgswp"
    )

    def __init__(self, config: DGSWPFlowConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        self.solver = self.make_solver(config, context)

    def make_solver(self, config: DGSWPFlowConfig, context: FlowContext) -> DGSWPSolver:
        check_equal_sizes(context.n, context.m, "dgswp")
        return DGSWPSolver.from_config(
            config, context.d, context.generators, dtype=context.dtype, device=context.device
        )

    @property
    def params(self) -> torch.Tensor:
        """The projection's parameters (S, P)."""
        return self.solver.params

    @torch.no_grad()
    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.solver.fit(x, y, self.config.inner_steps)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.solver.family.matched_cost(x, y, *self.solver.orders(x, y))

    def state_dict(self) -> dict[str, Any]:
        return self.solver.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.solver.load_state_dict(state)
