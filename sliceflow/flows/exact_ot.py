"""Exact OT: particles descend the exact W2^2 to the target samples, the discrete Wasserstein
gradient flow that every sliced flow approximates."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig
from sliceflow.ot.exact import exact_plan


class ExactOTConfig(FlowConfig):
    solver: Literal["auto", "pot"] = Field(
        "auto",
        description="optimal plan: auto (exact assignment for equal sizes up to 100, else the "
        "checked ot.emd) or pot (always ot.emd); the exact trace's solvers",
    )


@register("exact_ot")
class ExactOT(Flow):
    """Exact squared 2-Wasserstein distance, differentiated at an optimal plan (Danskin).

    .. math:: W_2^2(x, y) = \\sum_{ij} P^\\star_{ij}\\, c(x_i, y_j), \\qquad
              \\nabla_{x_i} = \\sum_j P^\\star_{ij} \\nabla_x c(x_i, y_j)
              = \\tfrac{2}{n} (x_i - T(x_i)) \\text{ (Euclidean)}

    with uniform weights, ``c`` the manifold's squared distance (squared Euclidean, or squared
    geodesic on the ball) and ``T(x_i) = n sum_j P*_ij y_j`` the barycentric projection (for
    equal sizes a permutation: the matched target point). The plan is solved on a detached
    float64 copy, per seed, by the exact trace's solvers; the loss is the matched cost, the mean
    over particles for equal sizes, so it equals the trace's ``w2sq``.
    """

    Config = ExactOTConfig
    manifolds = frozenset({"euclidean", "poincare"})
    summary = "exact W2^2 at an optimal plan: the discrete Wasserstein gradient flow"
    reference = (
        "Jordan, Kinderlehrer, Otto (1998); Ambrosio, Gigli, Savaré (2008), Gradient flows in "
        "metric spaces and in the space of probability measures"
    )

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        manifold = self.context.manifold
        x64, y64 = x.detach().double().cpu(), y.detach().double().cpu()
        values = []
        for s in range(x.shape[0]):  # one seed at a time: a seed alone equals it in a batch
            with torch.no_grad():
                cost = manifold.cost_matrix(x64[s], y64[s]).numpy()  # (n, m)
            if not np.isfinite(cost).all():
                raise FloatingPointError("exact_ot: non-finite cost between particles and target")
            rows, cols, mass = exact_plan(cost, self.config.solver)
            rows_t = torch.as_tensor(rows, device=x.device)
            cols_t = torch.as_tensor(cols, device=x.device)
            pairs = manifold.cost_matrix(
                x[s, rows_t].unsqueeze(-2), y[s, cols_t].unsqueeze(-2)
            )  # (k, 1, 1): the matched squared distances
            weights = torch.as_tensor(mass, dtype=x.dtype, device=x.device)
            values.append((weights * pairs[:, 0, 0]).sum())
        return torch.stack(values)
