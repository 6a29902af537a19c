"""The entropic plan (Sinkhorn): a coupling, not a permutation, for comparison with the others."""

from __future__ import annotations

import torch
from pydantic import Field

from sliceflow.ot.entropic._sinkhorn import sinkhorn, squared_euclidean_cost
from sliceflow.tasks.plan.methods import register_plan
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod


class SinkhornPlanConfig(PlanConfig):
    reg: float = Field(1.0, gt=0, description="entropic regularisation, cost |x - y|^2")
    max_iter: int = Field(1000, gt=0, description="Sinkhorn iterations at most")
    tol: float = Field(1e-6, gt=0, description="tolerance on the row-marginal error")
    scaling: float | None = Field(0.9, gt=0, lt=1, description="epsilon-scaling (null: off)")


@register_plan("sinkhorn")
class SinkhornPlan(PlanMethod):
    """The entropic plan of the clouds, solved once in float64 (log-domain Sinkhorn).

    .. math:: P^\\star = \\arg\\min_{P 1 = a,\\ P^\\top 1 = b} \\langle P, C\\rangle
              + \\mathrm{reg} \\sum_{ij} P_{ij} (\\log P_{ij} - 1)

    Its cost is ``<P*, C>`` (POT's ``ot.sinkhorn2``), at least W2^2 up to the marginal error.
    P is not a permutation: its snapshot (and the segments of the figures) gives each source
    point its most likely target, ``argmax_j P_ij``. A one-shot method.
    """

    Config = SinkhornPlanConfig
    summary = "entropic plan (Sinkhorn, log domain), one shot; not a permutation"
    reference = "Cuturi (2013), Sinkhorn distances; POT's ot.sinkhorn2"

    def __init__(self, config: SinkhornPlanConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x, y = context.x.detach().double(), context.y.detach().double()
        S, n = x.shape[:2]
        cost = squared_euclidean_cost(x, y)  # (S, n, n)
        uniform = torch.full((S, n), 1.0 / n, dtype=torch.float64, device=x.device)
        result = sinkhorn(uniform, uniform, cost, config.reg, "log", "envelope",
                          config.max_iter, config.tol, scaling=config.scaling)  # fmt: skip
        if not bool(result.converged.all()):
            raise ValueError(
                f"sinkhorn did not reach tol {config.tol:g} in {config.max_iter} iterations "
                f"(reg {config.reg:g}); raise max_iter or reg"
            )
        self.transport_cost = result.transport_cost  # (S,)
        self.most_likely = result.plan.argmax(dim=-1)  # (S, n)

    def cost(self, last: bool) -> torch.Tensor:
        return self.transport_cost

    def targets(self) -> torch.Tensor:
        return self.most_likely
