"""The DGSWP coupling on aggregated minibatches (the DGSWP paper's DGSWP-CFM, Sec. 5.3).

A learned projection orders both clouds of ``aggregate`` minibatches (the paper: 10); the i-th
smallest source sample is paired with the i-th smallest target sample. The pairs are consumed
one minibatch per training iteration, either in contiguous slices along the projection (the
authors' ``DGSWPSampler``: ``pairs: sorted_slices``) or in a random order per seed
(``pairs: shuffled``).

.. math:: h(\\phi) = \\frac1n \\sum_i \\|x_{0,\\sigma_\\phi(i)} - x_{1,\\tau_\\phi(i)}\\|^2
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver
from sliceflow.tasks.flow_matching.couplings import register_coupling
from sliceflow.tasks.flow_matching.couplings.base import (
    Coupling,
    CouplingConfig,
    CouplingContext,
    shuffled_pairs,
    sorted_pairs,
)


class DGSWPCouplingConfig(DGSWPConfig, CouplingConfig):
    """The solver's keys (the flow's defaults: the authors' DGSWP-CFM sampler) and the schedule
    (the authors' ``train_cifar10_dgswpcfm.py``: 1000 steps on the first aggregate, then one
    step on each new one, its pairs consumed in sorted slices)."""

    projections = ("linear", "mlp")
    aggregate: int = Field(10, ge=1, description="minibatches in one plan (the paper: 10)")
    init_steps: int = Field(1000, ge=0, description="projection steps on the first plan")
    steps_per_aggregate: int = Field(
        1, ge=0, description="projection steps on each later aggregate (the authors: 1)"
    )
    pairs: Literal["sorted_slices", "shuffled"] = Field(
        "sorted_slices",
        description="training order of a plan's pairs: contiguous slices along the projection "
        "(the authors') or a random order per seed",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "steps_per_iteration" in data:
            raise ValueError(
                "steps_per_iteration was replaced by steps_per_aggregate (projection steps on "
                "each new aggregate): steps_per_iteration k is steps_per_aggregate "
                "aggregate * k, e.g. 10 for the former defaults"
            )
        return data


@register_coupling("dgswp")
class DGSWPCoupling(Coupling):
    """DGSWP plan on aggregated minibatches (the DGSWP paper's DGSWP-CFM, Sec. 5.3).

    The projection (``sliceflow.ot.sliced.DGSWPSolver``) persists across plans: ``init_steps``
    solver steps on the first aggregate, then ``steps_per_aggregate`` on each new aggregate
    before its plan is read; ``pairs`` orders the plan's pairs for training.
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
        self.solver.fit(x0, x1, cfg.init_steps if self.plans == 0 else cfg.steps_per_aggregate)
        sigma, tau = self.solver.orders(x0, x1)
        self.plans += 1
        if cfg.pairs == "shuffled":
            return shuffled_pairs(x0, x1, sigma, tau, self.context.generators)
        return sorted_pairs(x0, x1, sigma, tau)

    def skip_start(self) -> None:
        self.plans = max(self.plans, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"plans": self.plans, "learner": self.solver.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plans = int(state["plans"])
        self.solver.load_state_dict(state["learner"])
