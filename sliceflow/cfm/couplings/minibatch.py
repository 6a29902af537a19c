"""Minibatch couplings: independent pairs (I-CFM) and exact OT per minibatch (OT-CFM).

Both follow torchcfm (Tong et al. 2024): I-CFM trains on the pairs as drawn; OT-CFM computes
the exact OT plan of the minibatch with ``torchcfm.optimal_transport.OTPlanSampler("exact")``
(POT's network simplex on the squared Euclidean cost) and draws ``B`` pairs from it with
replacement, as ``OTPlanSampler.sample_plan`` does, but from the seed's own generator.
"""

from __future__ import annotations

import torch
from pydantic import Field

from sliceflow.cfm.couplings import register_coupling
from sliceflow.cfm.couplings.base import Coupling, CouplingConfig, CouplingContext, gather_rows


@register_coupling("independent")
class Independent(Coupling):
    """I-CFM: source and target samples paired as drawn (the product coupling)."""

    summary = "I-CFM: independent pairs (the product coupling)"
    reference = "Lipman et al. 2023; Tong et al. 2024 (torchcfm ConditionalFlowMatcher)"

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x0, x1


class MinibatchOTConfig(CouplingConfig):
    aggregate: int = Field(1, ge=1, description="minibatches in one exact OT problem")


@register_coupling("minibatch_ot")
class MinibatchOT(Coupling):
    """OT-CFM: pairs drawn from the exact OT plan of each (aggregated) minibatch.

    .. math:: \\pi^* = \\arg\\min_{\\pi \\in U(1/n, 1/n)} \\sum_{ij} \\pi_{ij}
              \\|x_{0,i} - x_{1,j}\\|^2, \\qquad (i, j) \\sim \\pi^* \\text{ (n draws)}
    """

    Config = MinibatchOTConfig
    summary = "OT-CFM: pairs drawn from the exact OT plan of the minibatch (POT via torchcfm)"
    reference = "Tong et al. 2024, Improving and generalizing flow-based generative models"

    def __init__(self, config: MinibatchOTConfig, context: CouplingContext) -> None:
        super().__init__(config, context)
        from torchcfm.optimal_transport import OTPlanSampler

        self.sampler = OTPlanSampler(method="exact")

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        S, n, _ = x0.shape
        rows, cols = [], []
        for s, generator in enumerate(self.context.generators):
            plan = torch.from_numpy(self.sampler.get_map(x0[s], x1[s])).flatten()  # (n * n,)
            draws = torch.multinomial(plan, n, replacement=True, generator=generator)
            rows.append(draws // n)
            cols.append(draws % n)
        device = x0.device
        rows_t, cols_t = torch.stack(rows).to(device), torch.stack(cols).to(device)  # (S, n)
        return gather_rows(x0, rows_t), gather_rows(x1, cols_t)
