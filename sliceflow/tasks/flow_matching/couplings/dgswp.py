"""The DGSWP coupling on aggregated minibatches (the DGSWP paper's DGSWP-CFM, Sec. 5.3).

A learned projection orders both clouds of ``aggregate`` minibatches (the paper: 10); the i-th
smallest source sample is paired with the i-th smallest target sample, the pairs are shuffled per
seed and consumed one minibatch per training iteration.

.. math:: h(\\phi) = \\frac1n \\sum_i \\|x_{0,\\sigma_\\phi(i)} - x_{1,\\tau_\\phi(i)}\\|^2
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from sliceflow.tasks.flow_matching.couplings import register_coupling
from sliceflow.tasks.flow_matching.couplings.base import (
    Coupling,
    CouplingConfig,
    CouplingContext,
    shuffled_pairs,
)


class DGSWPCouplingConfig(CouplingConfig):
    aggregate: int = Field(10, ge=1, description="minibatches in one plan (the paper: 10)")
    projection: Literal["linear", "mlp"] = Field("linear", description="projection model m_phi")
    hidden: int = Field(256, gt=0, description="hidden width of the mlp projection")
    n_perturbations: int = Field(10, gt=0, description="Stein samples N per projection step")
    eps: float = Field(0.05, gt=0, description="Gaussian smoothing scale of the parameters")
    inner_lr: float = Field(0.01, gt=0, description="Adam learning rate of phi")
    init_steps: int = Field(1000, ge=0, description="projection steps on the first plan")
    steps_per_iteration: int = Field(1, ge=0, description="projection steps per CFM iteration")
    keep_best: bool = Field(False, description="keep the projection step with the lowest cost")


@register_coupling("dgswp")
class DGSWPCoupling(Coupling):
    """DGSWP plan on aggregated minibatches (the DGSWP paper's DGSWP-CFM, Sec. 5.3).

    The projection persists across plans: ``init_steps`` Stein-smoothed Adam steps on the first
    aggregate, then ``steps_per_iteration`` per training iteration, i.e. ``aggregate *
    steps_per_iteration`` on each new aggregate before its plan is read.
    """

    Config = DGSWPCouplingConfig
    summary = "DGSWP plan (learned linear or MLP projection) on aggregated minibatches"
    reference = "Differentiable generalized sliced Wasserstein plans (2025), Sec. 5.3"

    def __init__(self, config: DGSWPCouplingConfig, context: CouplingContext) -> None:
        super().__init__(config, context)
        self.learner = _FlowProjection(config, context)
        self.plans = 0

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        steps = cfg.init_steps if self.plans == 0 else cfg.aggregate * cfg.steps_per_iteration
        self.learner.fit(x0, x1, steps)
        sigma, tau = self.learner.orders(x0, x1)
        self.plans += 1
        return shuffled_pairs(x0, x1, sigma, tau, self.context.generators)

    def skip_start(self) -> None:
        self.plans = max(self.plans, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"plans": self.plans, "learner": self.learner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plans = int(state["plans"])
        self.learner.load_state_dict(state["learner"])


class _FlowProjection:
    """The DGSWP projection learner, borrowed from the DGSWP particle flow.

    A thin adapter (to be replaced by a public DGSWP plan class in ``sliceflow.ot``): the flow's
    inner loop (``inner_update``: batched Stein-smoothed steps with Adam, optional keep-best) learns
    the projection; its parameters give the orderings through ``sliceflow.ot.sliced._projections``.
    """

    def __init__(self, config: DGSWPCouplingConfig, context: CouplingContext) -> None:
        from sliceflow.flows.base import FlowContext
        from sliceflow.flows.dgswp import DGSWP, DGSWPConfig
        from sliceflow.manifolds.euclidean import Euclidean

        flow_config = DGSWPConfig(
            projection=config.projection, hidden=config.hidden,
            n_perturbations=config.n_perturbations, eps=config.eps, inner_steps=0,
            inner_lr=config.inner_lr, keep_best=config.keep_best,
        )  # fmt: skip
        n = context.batch_size * config.aggregate
        flow_context = FlowContext(
            n_seeds=context.n_seeds, n=n, m=n, d=context.dim, dtype=context.dtype,
            device=context.device, manifold=Euclidean(), generators=context.generators,
        )  # fmt: skip
        self.flow = DGSWP(flow_config, flow_context)

    def fit(self, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
        if steps > 0:
            self.flow.config = self.flow.config.model_copy(update={"inner_steps": steps})
            self.flow.inner_update(x, y)

    def orders(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Orderings (S, n) of x and y along the learned projection."""
        from sliceflow.ot.sliced._projections import evaluate
        from sliceflow.ot.sliced._slicing import argsort_rows

        cfg, n = self.flow.config, x.shape[1]
        params = self.flow.params.unsqueeze(1)  # (S, 1, P)
        values = evaluate(cfg.projection, params, torch.cat([x, y], 1), cfg.hidden)[:, 0]
        return argsort_rows(values[:, :n]), argsort_rows(values[:, n:])

    def state_dict(self) -> dict[str, Any]:
        return self.flow.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.flow.load_state_dict(state)
