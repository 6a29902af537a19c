"""The min-SWGG coupling on aggregated minibatches (random search over directions).

Both clouds of ``aggregate`` minibatches are sorted along the best of L fresh random directions
(the lowest plan cost) and the i-th smallest source sample is paired with the i-th smallest target
sample; the pairs are shuffled per seed and consumed one minibatch per training iteration.

.. math:: h(\\theta) = \\frac1n \\sum_i \\|x_{0,\\sigma_\\theta(i)} - x_{1,\\tau_\\theta(i)}\\|^2
"""

from __future__ import annotations

import torch
from pydantic import Field

from sliceflow.ot.sliced._plans import swgg_orders
from sliceflow.random import random_directions
from sliceflow.tasks.flow_matching.couplings import register_coupling
from sliceflow.tasks.flow_matching.couplings.base import (
    Coupling,
    CouplingConfig,
    gather_rows,
    shuffled_pairs,
)


class MinSWGGConfig(CouplingConfig):
    aggregate: int = Field(10, ge=1, description="minibatches in one plan")
    n_projections: int = Field(20, gt=0, description="random directions L per plan")


@register_coupling("min_swgg")
class MinSWGG(Coupling):
    """Permutation plan along the best of L fresh random directions (lowest plan cost)."""

    Config = MinSWGGConfig
    summary = "min-SWGG plan (best of L random directions) on aggregated minibatches"
    reference = "Mahey et al. 2023, Fast optimal transport through sliced generalized W geodesics"

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        context = self.context
        theta = random_directions(context.generators, self.config.n_projections, x0.shape[-1],
                                  dtype=x0.dtype, device=x0.device)  # fmt: skip
        sigma, tau = swgg_orders(x0, x1, theta)  # (S, L, n) each
        costs = torch.stack([
            (gather_rows(x0, sigma[:, k]) - gather_rows(x1, tau[:, k])).square().sum(-1).mean(-1)
            for k in range(sigma.shape[1])
        ], dim=1)  # (S, L); one direction at a time: memory S n d, not S L n d  # fmt: skip
        best = costs.argmin(dim=1)  # (S,)
        pick = best.view(-1, 1, 1).expand(-1, 1, sigma.shape[-1])
        sigma_best, tau_best = sigma.gather(1, pick)[:, 0], tau.gather(1, pick)[:, 0]
        return shuffled_pairs(x0, x1, sigma_best, tau_best, context.generators)
