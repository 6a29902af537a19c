"""Minibatch couplings: independent pairs (I-CFM), exact OT (OT-CFM) and entropic OT per minibatch.

Both follow torchcfm (Tong et al. 2024): I-CFM trains on the pairs as drawn; OT-CFM computes
the exact OT plan of the minibatch with ``torchcfm.optimal_transport.OTPlanSampler("exact")``
(POT's network simplex on the squared Euclidean cost) and draws ``B`` pairs from it with
replacement, as ``OTPlanSampler.sample_plan`` does, but from the seed's own generator.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from sliceflow.tasks.flow_matching.couplings import register_coupling
from sliceflow.tasks.flow_matching.couplings.base import (
    Coupling,
    CouplingConfig,
    CouplingContext,
    pairs_from_plans,
)


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
        plans = [torch.from_numpy(self.sampler.get_map(x0[s], x1[s])) for s in range(len(x0))]
        return pairs_from_plans(x0, x1, plans, self.context.generators)


class SinkhornConfig(CouplingConfig):
    aggregate: int = Field(1, ge=1, description="minibatches in one entropic OT problem")
    reg: float = Field(0.05, gt=0, description="entropic regularisation (torchcfm's default)")
    max_iter: int = Field(1000, gt=0, description="Sinkhorn iterations at most")
    tol: float = Field(1e-6, gt=0, description="tolerance on the plan's row marginals")


@register_coupling("sinkhorn")
class Sinkhorn(Coupling):
    """Pairs drawn from the entropic OT plan of each (aggregated) minibatch.

    .. math:: \\pi^\\varepsilon = \\arg\\min_{\\pi \\in U(1/n, 1/n)} \\sum_{ij} \\pi_{ij}
              \\|x_{0,i} - x_{1,j}\\|^2 + \\varepsilon \\sum_{ij} \\pi_{ij}(\\log \\pi_{ij} - 1)

    ``sliceflow.ot.entropic.sinkhorn`` in the log
    domain, all seeds in one batched solve (float64); a
    problem that does not converge within ``max_iter`` still gives its plan and is counted
    (``scenario.yaml``: ``run.sinkhorn_unconverged``). As torchcfm's
    ``OTPlanSampler("sinkhorn")`` (the Schrodinger-bridge CFM of Tong et al. uses
    ``reg = 2 sigma^2``), n pairs are drawn with replacement from the plan.
    """

    Config = SinkhornConfig
    summary = (
        "pairs drawn from the entropic OT plan of the minibatch (sliceflow.ot.entropic.sinkhorn)"
    )
    reference = "Tong et al. 2024 (SB-CFM's coupling); Cuturi 2013"

    def __init__(self, config: SinkhornConfig, context: CouplingContext) -> None:
        super().__init__(config, context)
        self.unconverged = [0] * context.n_seeds

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from sliceflow.ot.entropic._sinkhorn import sinkhorn, squared_euclidean_cost

        cfg = self.config
        S, n, _ = x0.shape
        cost = squared_euclidean_cost(x0.double(), x1.double())  # (S, n, n)
        weights = torch.full((S, n), 1.0 / n, dtype=torch.float64, device=x0.device)
        result = sinkhorn(weights, weights, cost, cfg.reg, method="log", gradient="envelope",
                          max_iter=cfg.max_iter, tol=cfg.tol)  # fmt: skip
        failed = (~result.converged).cpu().tolist()
        self.unconverged = [k + int(f) for k, f in zip(self.unconverged, failed, strict=True)]
        return pairs_from_plans(x0, x1, list(result.plan), self.context.generators)

    def info(self) -> dict[str, list]:
        return {"sinkhorn_unconverged": list(self.unconverged)}

    def state_dict(self) -> dict[str, Any]:
        return {"unconverged": list(self.unconverged)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.unconverged = [int(k) for k in state["unconverged"]]
