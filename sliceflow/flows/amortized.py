"""Amortized sliced Wasserstein (Nguyen & Ho 2022): a model predicts the direction."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from pydantic import Field

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.optim import BatchedAdam
from sliceflow.ot.sliced._slicing import project, sorted_diff
from sliceflow.random import rand


class AmortizedConfig(FlowConfig):
    inner_lr: float = Field(0.01, gt=0, description="Adam learning rate of the amortized model")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1 (reference: 0)")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam beta2 (reference: 0.9)")
    detach: bool = Field(
        True,
        description="move the particles with the direction held fixed (the authors' code); "
        "false: the particle gradient also flows through f_psi(X, Y)",
    )


def _uniform(generators, shape, fan_in, context) -> torch.Tensor:
    """nn.Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), one draw per seed."""
    draw = rand(generators, shape, dtype=context.dtype, device=context.device)
    return ((2 * draw - 1) / math.sqrt(fan_in)).requires_grad_(True)


def _mlp(z: torch.Tensor, inner: torch.Tensor, outer: torch.Tensor, bias: torch.Tensor):
    """``W_out sigmoid(W_in z) + b`` row-wise: z (S, k, d) -> (S, k, d)."""
    return torch.baddbmm(
        bias.unsqueeze(1), torch.sigmoid(torch.bmm(z, inner.transpose(1, 2))), outer.transpose(1, 2)
    )


def amortized_sw(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``sqrt(sum_i (sorted diff along theta)^2)`` per seed; theta (S, 1, d) -> (S,)."""
    return sorted_diff(project(x, theta), project(y, theta)).square().sum(dim=(1, 2)).sqrt()


class AmortizedSW(Flow):
    """One direction ``theta = f_psi(X, Y)`` per step; psi takes one Adam ascent step first.

    .. math:: \\theta = \\frac{a}{\\|a\\|}, \\quad a = w_0 + X^\\top w_1 + Y^\\top w_2
              \\quad\\text{(LA; GA maps each point by g, NA maps a by h)}

    Loss ``sqrt(sum_i (sorted diff along theta)^2)`` (sum over particles, as the reference).
    Each flow step: one Adam ascent step on psi with detached clouds (betas (0, 0.9)), then the
    particle loss at the updated model's direction. ``detach`` (default, as the authors' code)
    treats that direction as the maximiser, as Danskin's theorem does for Max-SW: the particles
    receive the gradient of the sliced loss at a fixed theta. With ``detach: false`` the gradient
    also flows through ``f_psi(X, Y)`` (the model's parameters never receive one).
    The input size of the model fixes the particle count.
    """

    Config = AmortizedConfig
    model: ClassVar[str] = "linear"
    reference = "Nguyen, Ho (2022), Amortized projection optimization for sliced Wasserstein"

    def __init__(self, config: AmortizedConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        n, m, d, gens = context.n, context.m, context.d, context.generators
        self.params = {
            "w0": _uniform(gens, (d,), n, context),
            "w1": _uniform(gens, (n,), n, context),
            "w2": _uniform(gens, (m,), m, context),
        }  # w1, w2 as the weights of nn.Linear(n, 1) / nn.Linear(m, 1); w0 with the same bound
        if self.model != "linear":
            self.params |= {
                "inner": _uniform(gens, (d, d), d, context),
                "outer": _uniform(gens, (d, d), d, context),
                "bias": _uniform(gens, (d,), d, context),
            }
        betas = (config.beta1, config.beta2)
        self.optimizer = BatchedAdam(
            list(self.params.values()), lr=config.inner_lr, betas=betas, maximize=True
        )

    def direction(self, x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor]):
        """f_psi(X, Y): (S, n, d), (S, m, d) -> unit direction (S, 1, d)."""
        if self.model == "generalized":
            x = _mlp(x, params["inner"], params["outer"], params["bias"])
            y = _mlp(y, params["inner"], params["outer"], params["bias"])
        a = (
            params["w0"].unsqueeze(1)
            + torch.bmm(params["w1"].unsqueeze(1), x)
            + torch.bmm(params["w2"].unsqueeze(1), y)
        )  # (S, 1, d)
        if self.model == "nonlinear":
            a = _mlp(a, params["inner"], params["outer"], params["bias"])
        return a / a.norm(dim=-1, keepdim=True)

    def directions(self, x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor]):
        """``direction`` seed by seed: the backward of a batched matmul is not bit-identical
        for different batch sizes, and these models are tiny. -> (S, 1, d)."""
        per_seed = [
            self.direction(x[s : s + 1], y[s : s + 1], {k: v[s : s + 1] for k, v in params.items()})
            for s in range(x.shape[0])
        ]
        return torch.cat(per_seed)

    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        values = list(self.params.values())
        with torch.enable_grad():
            objective = amortized_sw(x, y, self.directions(x, y, self.params)).sum()
            grads = torch.autograd.grad(objective, values)
        self.optimizer.step(list(grads))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        frozen = {k: v.detach() for k, v in self.params.items()}
        if self.config.detach:
            with torch.no_grad():
                theta = self.directions(x.detach(), y.detach(), frozen)
            return amortized_sw(x, y, theta)
        return amortized_sw(x, y, self.directions(x, y, frozen))

    def state_dict(self) -> dict[str, Any]:
        params = {k: v.detach().clone() for k, v in self.params.items()}
        return {"params": params, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for key, value in self.params.items():
                value.copy_(state["params"][key])
        self.optimizer.load_state_dict(state["optimizer"])


@register("la_sw")
class LinearAmortizedSW(AmortizedSW):
    __doc__ = AmortizedSW.__doc__
    model = "linear"
    summary = "amortized SW, linear model a = w0 + X^T w1 + Y^T w2 (one ascent step per step)"


@register("ga_sw")
class GeneralizedAmortizedSW(AmortizedSW):
    __doc__ = AmortizedSW.__doc__
    model = "generalized"
    summary = "amortized SW, generalized linear model (points mapped by W2 sigmoid(W1 z) + b)"


@register("na_sw")
class NonlinearAmortizedSW(AmortizedSW):
    __doc__ = AmortizedSW.__doc__
    model = "nonlinear"
    summary = "amortized SW, non-linear model a -> W4 sigmoid(W3 a) + b"
