"""SWGG of one direction and min-SWGG optimised on its smoothed surrogate (Mahey et al. 2023).

A direction theta orders both clouds; the matched pairs form the plan of cost

.. math:: SWGG(\\theta) = \\frac1n \\sum_i \\|x_{\\sigma_\\theta(i)} - y_{\\tau_\\theta(i)}\\|^2
          \\ge W_2^2

piecewise constant in theta. :func:`smoothed_swgg_grad` is the paper's smoothed surrogate and its
closed-form gradient; :class:`SWGGOptimizer` descends it (min-SWGG-opt). Equal sizes n = m.

References
----------
Mahey, Chapel, Gasso, Bonet, Courty (2023), Fast optimal transport through sliced generalized
Wasserstein geodesics, NeurIPS.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from sliceflow.optim import BatchedAdam
from sliceflow.ot._config import SolverConfig
from sliceflow.ot.sliced._plans import plan_cost
from sliceflow.ot.sliced._slicing import argsort_rows
from sliceflow.random import randn, random_directions


class SWGGOptConfig(SolverConfig):
    """Settings of :class:`SWGGOptimizer` (min-SWGG optimised on the smoothed surrogate)."""

    inner_steps: int = Field(20, ge=0, description="Adam steps on theta per step of the task")
    inner_lr: float = Field(0.01, gt=0, description="Adam learning rate of theta")
    n_copies: int = Field(10, gt=0, description="blurred copies s of the smoothed surrogate")
    eps: float = Field(0.1, ge=0, description="blur: projections + 0.5 * eps * N(0, 1)")


def swgg_orders(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor):
    """Orderings along each direction: theta (S, L, d) -> sigma, tau (S, L, n)."""
    sigma = argsort_rows(torch.bmm(theta, x.detach().transpose(1, 2)))  # (S, L, n)
    tau = argsort_rows(torch.bmm(theta, y.detach().transpose(1, 2)))
    return sigma, tau


def swgg_cost(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``SWGG(theta) = mean_i |x_sigma(i) - y_tau(i)|^2`` per seed, differentiable in x: theta
    (S, d) -> (S,)."""
    sigma, tau = swgg_orders(x, y, theta.unsqueeze(1))  # (S, 1, n)
    return plan_cost(x, y, sigma[:, 0], tau[:, 0])


def smoothed_swgg_grad(
    x: torch.Tensor,
    y: torch.Tensor,
    theta: torch.Tensor,
    noise: torch.Tensor,
    with_value: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """min-SWGG smoothed surrogate (Mahey et al. 2023) and its gradient in theta.

    .. math:: F(\\theta) = \\frac1n\\big(-4|B - Z|^2 + 2|X_s - Z|^2 + 2|Y_s - Z|^2\\big),
              \\quad Z_i = (M_i^\\top\\theta)\\theta, \\quad M = (X_s + Y_s)/2

    ``X_s, Y_s`` are the clouds sorted along theta; ``B`` averages ``(X_s + Y_s)/2`` over ``s``
    copies whose projections are blurred by ``noise`` and re-sorted (rank block i holds copies
    i*s .. i*s+s-1). Only ``Z`` depends on theta, so with ``R = M - B``
    ``grad = -8/n sum_i [(M_i.theta) R_i + (R_i.theta) M_i]``. With s = 1 and no noise,
    ``F(theta) = SWGG(theta)``.

    x, y (S, n, d); theta (S, d) unit; noise (S, 2, n*s) already scaled -> (F (S,) or None if
    not ``with_value``, grad (S, d)).
    """
    S, n, d = x.shape
    s = noise.shape[-1] // n
    column = theta.unsqueeze(-1)  # (S, d, 1)
    px, py = torch.bmm(x, column).squeeze(-1), torch.bmm(y, column).squeeze(-1)  # (S, n)
    sigma, tau = argsort_rows(px), argsort_rows(py)  # (S, n)
    px_sorted, py_sorted = px.gather(-1, sigma), py.gather(-1, tau)
    xs = x.gather(1, sigma.unsqueeze(-1).expand(-1, -1, d))  # (S, n, d)
    ys = y.gather(1, tau.unsqueeze(-1).expand(-1, -1, d))
    mid = (xs + ys) / 2
    z = (px_sorted + py_sorted) / 2  # (S, n) = M theta
    block_offsets = (torch.arange(n * s, device=x.device) // s) * n  # row of each sorted copy
    bary = torch.zeros_like(mid)
    for sorted_proj, cloud_sorted, k in ((px_sorted, xs, 0), (py_sorted, ys, 1)):
        blurred = sorted_proj.repeat_interleave(s, dim=-1) + noise[:, k]  # (S, n*s)
        source_rank = argsort_rows(blurred) // s  # rank in the sorted cloud of each copy
        counts = torch.zeros(S, n * n, dtype=x.dtype, device=x.device)
        counts.scatter_add_(1, block_offsets + source_rank, torch.ones_like(blurred))
        bary += torch.bmm(counts.view(S, n, n), cloud_sorted)
    bary /= 2 * s
    value = None
    if with_value:
        line = z.unsqueeze(-1) * theta.unsqueeze(1)  # (S, n, d)
        value = (
            -4 * (bary - line).square().sum(-1)
            + 2 * (xs - line).square().sum(-1)
            + 2 * (ys - line).square().sum(-1)
        ).mean(-1)
    residual = mid - bary  # (S, n, d)
    along = torch.bmm(residual, column).squeeze(-1)  # (S, n)
    grad = torch.bmm(z.unsqueeze(1), residual) + torch.bmm(along.unsqueeze(1), mid)
    return value, grad.squeeze(1) * (-8 / n)


class SWGGOptimizer:
    """One direction per seed optimised by Adam on the smoothed SWGG surrogate (min-SWGG-opt).

    .. math:: \\theta \\leftarrow \\theta / |\\theta|, \\quad \\theta \\leftarrow
              \\operatorname{Adam}\\big(\\theta, \\nabla_\\theta F(\\theta)\\big)

    with :func:`smoothed_swgg_grad` and fresh blur ``0.5 eps N(0, 1)`` per step, as the
    reference's ``get_SWGG_smooth``; theta is renormalised before every step and after the last.
    theta (S, d) starts uniform on the sphere, from the seeds' generators; so does every blur.

    Parameters
    ----------
    config : the surrogate's and Adam's settings (any subclass of :class:`SWGGOptConfig`).
    generators : one ``torch.Generator`` per seed.
    dim, dtype, device : those of the clouds.
    """

    def __init__(self, config: SWGGOptConfig, generators: list[torch.Generator], dim: int, *,
                 dtype: torch.dtype, device: torch.device | str = "cpu") -> None:  # fmt: skip
        self.config, self.generators = config, generators
        self.theta = random_directions(generators, 1, dim, dtype=dtype, device=device)[:, 0]
        self.optimizer = BatchedAdam([self.theta], lr=config.inner_lr)

    def reset(self) -> None:
        """A fresh Adam on the current theta."""
        self.optimizer.reset()

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Renormalise theta, then one Adam step on the surrogate of x, y (S, n, d)."""
        self._normalise()
        n, cfg = x.shape[1], self.config
        noise = randn(self.generators, (2, n * cfg.n_copies), dtype=x.dtype, device=x.device)
        _, grad = smoothed_swgg_grad(x, y, self.theta, 0.5 * cfg.eps * noise, with_value=False)
        self.optimizer.step([grad])

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor, steps: int | None = None, *,
            restart: bool = False) -> torch.Tensor:  # fmt: skip
        """``steps`` (default ``inner_steps``) steps from the current theta, which ends unit;
        ``restart``: with a fresh Adam (the flow's warm start). Returns theta (S, d)."""
        if restart:
            self.reset()
        for _ in range(self.config.inner_steps if steps is None else steps):
            self.step(x, y)
        self._normalise()
        return self.theta

    def orders(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The plan SWGG(theta): sigma, tau (S, n)."""
        sigma, tau = swgg_orders(x, y, self.theta.unsqueeze(1))
        return sigma[:, 0], tau[:, 0]

    def cost(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """SWGG(theta) (S,), differentiable in x (:func:`swgg_cost`)."""
        return swgg_cost(x, y, self.theta)

    def state_dict(self, optimizer: bool = True) -> dict[str, Any]:
        """theta, and Adam's state unless ``optimizer`` is false (a task that restarts Adam)."""
        state: dict[str, Any] = {"theta": self.theta.clone()}
        if optimizer:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta.copy_(state["theta"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])

    def _normalise(self) -> None:
        self.theta /= self.theta.norm(dim=-1, keepdim=True)  # in place: Adam holds this tensor
