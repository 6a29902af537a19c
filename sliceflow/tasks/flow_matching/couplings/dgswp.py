"""The DGSWP coupling on aggregated minibatches (the DGSWP paper's DGSWP-CFM, Sec. 5.3).

A learned projection orders both clouds of ``aggregate`` minibatches (the paper: 10); the i-th
smallest source sample is paired with the i-th smallest target sample, the pairs are shuffled per
seed and consumed one minibatch per training iteration.

.. math:: h(\\phi) = \\frac1n \\sum_i \\|x_{0,\\sigma_\\phi(i)} - x_{1,\\tau_\\phi(i)}\\|^2
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver
from sliceflow.tasks.flow_matching.couplings import register_coupling
from sliceflow.tasks.flow_matching.couplings.base import (
    Coupling,
    CouplingConfig,
    CouplingContext,
    shuffled_pairs,
)


class DGSWPCouplingConfig(DGSWPConfig, CouplingConfig):
    """The solver's keys (the flow's defaults: the authors' DGSWP-CFM sampler) and the schedule."""

    projections = ("linear", "mlp")
    aggregate: int = Field(10, ge=1, description="minibatches in one plan (the paper: 10)")
    init_steps: int = Field(1000, ge=0, description="projection steps on the first plan")
    steps_per_iteration: int = Field(1, ge=0, description="projection steps per CFM iteration")


@register_coupling("dgswp")
class DGSWPCoupling(Coupling):
    """DGSWP plan on aggregated minibatches (the DGSWP paper's DGSWP-CFM, Sec. 5.3).

    The projection (``sliceflow.ot.sliced.DGSWPSolver``) persists across plans: ``init_steps``
    solver steps on the first aggregate, then ``steps_per_iteration`` per training iteration,
    i.e. ``aggregate * steps_per_iteration`` on each new aggregate before its plan is read.
    """

    Config = DGSWPCouplingConfig
    summary = "DGSWP plan (learned linear or MLP projection) on aggregated minibatches"
    reference = "Differentiable generalized sliced Wasserstein plans (2025), Sec. 5.3"

    def __init__(self, config: DGSWPCouplingConfig, context: CouplingContext) -> None:
        super().__init__(config, context)
        self.solver = DGSWPSolver.from_config(
            config, context.dim, context.generators, dtype=context.dtype, device=context.device
        )
        self.plans = 0

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        steps = cfg.init_steps if self.plans == 0 else cfg.aggregate * cfg.steps_per_iteration
        self.solver.fit(x0, x1, steps)
        sigma, tau = self.solver.orders(x0, x1)
        self.plans += 1
        return shuffled_pairs(x0, x1, sigma, tau, self.context.generators)

    def skip_start(self) -> None:
        self.plans = max(self.plans, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"plans": self.plans, "learner": self.solver.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plans = int(state["plans"])
        self.solver.load_state_dict(state["learner"])
