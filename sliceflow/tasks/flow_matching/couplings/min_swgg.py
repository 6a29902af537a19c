"""The min-SWGG coupling on aggregated minibatches (random search over directions).

Both clouds of ``aggregate`` minibatches are sorted along the best of L fresh random directions
(the lowest plan cost, :func:`sliceflow.ot.sliced.min_swgg_plan`) and the i-th smallest source
sample is paired with the i-th smallest target sample; the pairs are shuffled per seed and
consumed one minibatch per training iteration.

.. math:: h(\\theta) = \\frac1n \\sum_i \\|x_{0,\\sigma_\\theta(i)} - x_{1,\\tau_\\theta(i)}\\|^2
"""

from __future__ import annotations

import torch
from pydantic import Field

from sliceflow.ot.sliced import SQUARED_EUCLIDEAN_PLAN_BY_PLAN, MinSWGGConfig, min_swgg_plan
from sliceflow.random import random_directions
from sliceflow.tasks.flow_matching.couplings import register_coupling
from sliceflow.tasks.flow_matching.couplings.base import Coupling, CouplingConfig, shuffled_pairs


class MinSWGGCouplingConfig(MinSWGGConfig, CouplingConfig):
    """min-SWGG's ``n_projections`` (fresh directions per plan) and the coupling's aggregate."""

    aggregate: int = Field(10, ge=1, description="minibatches in one plan")


@register_coupling("min_swgg")
class MinSWGG(Coupling):
    """Permutation plan along the best of L fresh random directions (lowest plan cost), priced
    in the samples' dtype one plan at a time (memory S n d, not S L n d)."""

    Config = MinSWGGCouplingConfig
    summary = "min-SWGG plan (best of L random directions) on aggregated minibatches"
    reference = "Mahey et al. 2023, Fast optimal transport through sliced generalized W geodesics"

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        generators = self.context.generators
        theta = random_directions(generators, self.config.n_projections, x0.shape[-1],
                                  dtype=x0.dtype, device=x0.device)  # fmt: skip
        sigma, tau = min_swgg_plan(x0, x1, theta, cost=SQUARED_EUCLIDEAN_PLAN_BY_PLAN)
        return shuffled_pairs(x0, x1, sigma, tau, generators)
