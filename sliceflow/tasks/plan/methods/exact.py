"""The optimal plan: an exact assignment (the reference every other plan is measured against)."""

from __future__ import annotations

import torch

from sliceflow.tasks.plan.methods import register_plan
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod


@register_plan("exact")
class ExactPlan(PlanMethod):
    """The optimal permutation (``ot.emd``'s vertex, or scipy's assignment); cost = W2^2.

    .. math:: \\min_{\\pi \\in \\mathfrak S_n} \\frac1n \\sum_i \\|x_i - y_{\\pi(i)}\\|^2
    """

    Config = PlanConfig
    summary = "optimal assignment (exact W2^2), the reference"
    reference = "Kantorovich; POT's ot.emd (network simplex)"

    def __init__(self, config: PlanConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        perm, _ = context.exact()
        S, n = perm.shape
        self.sigma = torch.arange(n).expand(S, n).contiguous()
        self.tau = torch.as_tensor(perm, dtype=torch.int64)

    def orders(self):
        return self.sigma, self.tau
