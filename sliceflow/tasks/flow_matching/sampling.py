"""Generate samples with a trained velocity network: fixed-step Euler and adaptive Dormand-Prince.

Sampling integrates ``dx/dt = v(t, x)`` from source samples at t = 0 to t = 1. Euler runs all
seeds at once (fixed steps couple nothing). Dormand-Prince (``torchdiffeq.odeint``, method
``dopri5``, as torchcfm's CIFAR-10 evaluation with rtol = atol = 1e-5) runs one seed at a time:
its step sizes depend on the error of the whole state, so a batch would tie the seeds together
and hide each seed's number of function evaluations (NFE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Velocity = Callable[..., torch.Tensor]  # v(t (S, n), x (S, n, d), seeds=slice) -> (S, n, d)


@torch.no_grad()
def euler(velocity: Velocity, x0: torch.Tensor, steps: int, keep_every: int = 0):
    """Euler with ``steps`` equal steps from t = 0 to 1: x0 (S, n, d) -> (x1, kept states).

    .. math:: x_{k+1} = x_k + \\tfrac1K v(k / K, x_k)

    ``keep_every`` > 0 keeps the states at steps 0, keep_every, 2 keep_every, ... and the last
    (a list of (S, n, d)); the NFE is ``steps``.
    """
    x, kept = x0, [x0] if keep_every else []
    S, n, _ = x0.shape
    dt = 1.0 / steps
    for k in range(steps):
        t = torch.full((S, n), k * dt, dtype=x0.dtype, device=x0.device)
        x = x + dt * velocity(t, x)
        if keep_every and ((k + 1) % keep_every == 0 or k + 1 == steps):
            kept.append(x)
    return x, kept


@torch.no_grad()
def straightness(velocity: Velocity, x0: torch.Tensor, steps: int = 100) -> torch.Tensor:
    """Straightness of the learned paths (Liu et al. 2023), per seed (S,), by Euler:

    .. math:: S(v) = \\int_0^1 \\mathbb{E}\\, \\|(x_1 - x_0) - v(t, x_t)\\|^2 \\, dt
              \\approx \\frac1K \\sum_{k<K} \\operatorname{mean}_i
              \\|(x_K - x_0) - v(t_k, x_k)\\|^2

    zero exactly when every path is a straight line run at constant speed.
    """
    x, velocities = x0, []
    S, n, _ = x0.shape
    for k in range(steps):
        t = torch.full((S, n), k / steps, dtype=x0.dtype, device=x0.device)
        v = velocity(t, x)
        velocities.append(v)
        x = x + v / steps
    chord = x - x0  # (S, n, d)
    gaps = [(chord - v).square().sum(-1).mean(-1) for v in velocities]  # K x (S,)
    # reduced along a contiguous row per seed: a mean over the first axis of (K, S) may sum in
    # an order that depends on S, and a seed must give the same bits alone or in a batch
    return torch.stack(gaps, dim=-1).mean(-1)


@dataclass
class AdaptiveResult:
    x1: torch.Tensor  # (n, d)
    nfe: int  # function evaluations
    steps: int  # accepted steps


class _Counted:
    """The velocity of one seed as torchdiffeq calls it, counting evaluations and steps."""

    def __init__(self, velocity: Velocity, seed: int) -> None:
        self.velocity, self.seed = velocity, slice(seed, seed + 1)
        self.nfe = self.accepted = 0

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.nfe += 1
        times = t.to(x.dtype).expand(1, x.shape[0])
        return self.velocity(times, x.unsqueeze(0), seeds=self.seed)[0]

    def callback_accept_step(self, t0, y0, dt) -> None:  # torchdiffeq's step hook
        self.accepted += 1


@torch.no_grad()
def dopri5(velocity: Velocity, x0: torch.Tensor, seed: int, rtol: float = 1e-5,
           atol: float = 1e-5) -> AdaptiveResult:  # fmt: skip
    """Adaptive Dormand-Prince 5(4) from t = 0 to 1 for one seed: x0 (n, d) -> x1 (n, d)."""
    from torchdiffeq import odeint

    counted = _Counted(velocity, seed)
    times = torch.tensor([0.0, 1.0], dtype=x0.dtype, device=x0.device)
    path = odeint(counted, x0, times, method="dopri5", rtol=rtol, atol=atol)
    return AdaptiveResult(path[-1], counted.nfe, counted.accepted)
