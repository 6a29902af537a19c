"""ASWD: augmented sliced Wasserstein (Chen, Yang, Li 2022) with the map x -> [x, Ax + b]."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.optim import BatchedAdam
from sliceflow.ot.policy import run_ranges, seed_ranges
from sliceflow.ot.sliced._slicing import argsort_rows, sorted_diff
from sliceflow.random import rand, random_directions


class ASWDConfig(FlowConfig):
    n_projections: int = Field(20, gt=0, description="directions L in R^{2d}, fresh every step")
    inner_steps: int = Field(10, ge=0, description="Adam ascent steps on the map per flow step")
    inner_lr: float = Field(0.01, gt=0, description="Adam learning rate of the map")
    penalty: float = Field(0.1, ge=0, description="lambda of the norm penalty")


def effective_directions(theta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``<phi(x), theta> = x.(theta_a + A^T theta_b) + b.theta_b``: theta (S, L, 2d) -> (S, L, d).

    The offset ``b.theta_b`` is the same for both clouds and cancels in every sorted difference.
    """
    d = weight.shape[-1]
    return theta[..., :d] + torch.bmm(theta[..., d:], weight)


def augmented_sw(x, y, theta, weight) -> torch.Tensor:
    """``SW_2 = sqrt(mean_l sum_i (sorted diff)^2)`` of phi(x), phi(y) per seed: (S,)."""
    u = effective_directions(theta, weight)  # (S, L, d)
    diff = sorted_diff(torch.bmm(x, u.transpose(1, 2)), torch.bmm(y, u.transpose(1, 2)))
    return diff.square().sum(1).mean(-1).sqrt()


def _unsort(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``out[index[i]] = values[i]`` along dim 1."""
    return torch.empty_like(values).scatter_(1, index, values)


def ascent_gradient(x, y, theta, weight, bias, penalty):
    """Objective ``SW_2(phi x, phi y) - lambda mean_i(|phi(x_i)| + |phi(y_i)|)`` and its gradient.

    With ``D`` the sorted differences along ``u_l = theta_a + A^T theta_b`` and ``E`` their scatter
    back to the unsorted points, ``dSW/du_l = (x^T E_x - y^T E_y)_l / (L SW)`` and
    ``dSW/dA = theta_b^T dSW/du``; the penalty gives
    ``lambda/n sum_i (A x_i + b) x_i^T / |phi(x_i)|``.
    x, y (S, n, d) with n == m; theta (S, L, 2d); weight (S, d, d); bias (S, d).
    """
    L = theta.shape[1]
    u = effective_directions(theta, weight)
    px, py = torch.bmm(x, u.transpose(1, 2)), torch.bmm(y, u.transpose(1, 2))  # (S, n, L)
    sigma, tau = argsort_rows(px, dim=1), argsort_rows(py, dim=1)
    diff = px.gather(1, sigma) - py.gather(1, tau)  # (S, n, L)
    sw = diff.square().sum(1).mean(-1).sqrt()  # (S,)
    scale = (1 / (L * sw))[:, None, None]
    grad_u = (
        torch.bmm(_unsort(diff, sigma).transpose(1, 2), x)
        - torch.bmm(_unsort(diff, tau).transpose(1, 2), y)
    ) * scale  # (S, L, d)
    grad_weight = torch.bmm(theta[..., weight.shape[-1] :].transpose(1, 2), grad_u)
    objective = sw
    grad_bias = torch.zeros_like(bias)
    for cloud in (x, y):
        image = torch.baddbmm(bias.unsqueeze(1), cloud, weight.transpose(1, 2))  # (S, n, d)
        norms = (cloud.square().sum(-1) + image.square().sum(-1)).sqrt()  # (S, n)
        objective = objective - penalty * norms.mean(-1)
        pull = image / (norms.unsqueeze(-1) * cloud.shape[1])  # (S, n, d)
        # in place on fresh products: no new d x d allocations (the same operations)
        grad_weight.sub_(torch.bmm(pull.transpose(1, 2), cloud).mul_(penalty))
        grad_bias = grad_bias - penalty * pull.sum(1)
    return objective, grad_weight, grad_bias


@register("aswd")
class ASWD(Flow):
    """Augmented SW through the injective map ``phi(x) = [x, A x + b]`` learned by ascent.

    .. math:: \\max_{A, b}\\ \\sqrt{\\frac1L\\sum_l \\sum_i (\\mathrm{sorted\\ diff})^2}
              - \\lambda\\, \\mathrm{mean}_i(\\|\\phi(x_i)\\| + \\|\\phi(y_i)\\|)

    Fresh directions on S^{2d-1} at every inner step and for the loss; closed-form gradient and a
    batched Adam (state kept across flow steps, as the reference's single optimiser). Particle
    loss: ``SW_2`` (a sum over particles inside the root) through the learned map, whose
    parameters receive no gradient from the particle step.
    """

    Config = ASWDConfig
    summary = "augmented sliced Wasserstein, map x -> [x, Ax + b] learned by ascent"
    reference = "Chen, Yang, Li (2022), Augmented sliced Wasserstein distances"

    def __init__(self, config: ASWDConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        if context.n != context.m:
            raise ValueError(
                f"aswd needs n_particles == target samples (got {context.n}, {context.m})"
            )
        d, gens = context.d, context.generators
        bound = 1 / math.sqrt(d)  # nn.Linear(d, d) default initialisation
        kw = {"dtype": context.dtype, "device": context.device}
        self.weight = (2 * rand(gens, (d, d), **kw) - 1) * bound  # (S, d, d)
        self.bias = (2 * rand(gens, (d,), **kw) - 1) * bound  # (S, d)
        self.optimizer = BatchedAdam([self.weight, self.bias], lr=config.inner_lr, maximize=True)

    def _directions(self, x: torch.Tensor) -> torch.Tensor:
        ctx = self.context
        n_dirs, dim = self.config.n_projections, 2 * x.shape[-1]
        return random_directions(ctx.generators, n_dirs, dim, dtype=x.dtype, device=x.device)

    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Adam ascent on the map; in high dimension, ranges of seeds in parallel threads on
        views of the parameters and moments (``sliceflow.ot.policy.seed_ranges``: the same
        numbers)."""
        S, n, d = x.shape
        ranges = seed_ranges(S, 5 * n * d * d)  # multiply-adds of one seed's ascent step
        single = len(ranges) == 1

        def ascend(rows: slice) -> int:
            optimizer = self.optimizer if single else self.optimizer.rows(rows)
            generators = self.context.generators[rows]
            with torch.no_grad():
                for _ in range(self.config.inner_steps):
                    theta = random_directions(generators, self.config.n_projections, 2 * d,
                                              dtype=x.dtype, device=x.device)  # fmt: skip
                    _, grad_w, grad_b = ascent_gradient(
                        x[rows], y[rows], theta, self.weight[rows], self.bias[rows],
                        self.config.penalty,
                    )  # fmt: skip
                    optimizer.step([grad_w, grad_b])
            return optimizer.step_count

        self.optimizer.step_count = run_ranges(ascend, ranges)[0]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return augmented_sw(x, y, self._directions(x), self.weight)

    def state_dict(self) -> dict[str, Any]:
        state = {"weight": self.weight.clone(), "bias": self.bias.clone()}
        return state | {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weight.copy_(state["weight"])
        self.bias.copy_(state["bias"])
        self.optimizer.load_state_dict(state["optimizer"])
