"""Costs of permutation transport plans induced by 1D orderings, on batches of seeds.

A projection (a direction, or any scalar map) orders both clouds; matching the i-th smallest
projection of ``x`` with the i-th smallest of ``y`` gives the permutation plan of cost

.. math:: h = \\frac1n \\sum_i \\|x_{\\sigma(i)} - y_{\\tau(i)}\\|^2
          = \\overline{|x|^2} + \\overline{|y|^2} - \\frac2n \\sum_i \\langle x_{\\sigma(i)},
          y_{\\tau(i)} \\rangle.

Inner loops evaluate many orderings of the same clouds: the second form needs the Gram matrix
``x y^T`` once (float64, so differences of nearby costs are not lost to cancellation), after
which each plan costs one gather. The particle loss uses the first form (exact, differentiable).
Plans need ``n == m`` (equal uniform weights).
"""

from __future__ import annotations

import numpy as np
import torch


def check_equal_sizes(n: int, m: int, method: str) -> None:
    if n != m:
        raise ValueError(
            f"{method} builds a permutation plan and needs as many particles as target samples "
            f"(got n_particles={n}, target samples={m}); set both to the same value"
        )


class PlanCosts:
    """Cost of any pair of orderings of fixed clouds ``x`` (S, n, d), ``y`` (S, n, d).

    .. math:: h(\\sigma, \\tau) = \\overline{|x|^2} + \\overline{|y|^2}
              - \\frac2n \\sum_i \\langle x_{\\sigma(i)}, y_{\\tau(i)} \\rangle

    in float64. ``by_coordinate``: instead of gathering from the n x n Gram matrix, gather the
    matched points and sum their products (memory O(n d) instead of O(n^2) per seed; the same
    value to rounding). On the CPU the gathers are NumPy's ``take`` of whole rows, seed by seed;
    other devices use ``torch.gather`` of each coordinate.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, by_coordinate: bool = False) -> None:
        x64, y64 = x.detach().double(), y.detach().double()
        self.n, self.by_coordinate = x.shape[1], by_coordinate
        if by_coordinate:
            self.x_columns = x64.transpose(1, 2).contiguous()  # (S, d, n)
            self.y_columns = y64.transpose(1, 2).contiguous()
            self.x_rows, self.y_rows = x64.contiguous(), y64.contiguous()  # (S, n, d)
        else:
            self.gram = torch.bmm(x64, y64.transpose(1, 2)).flatten(1)  # (S, n*n)
        self.const = x64.square().sum(-1).mean(-1) + y64.square().sum(-1).mean(-1)  # (S,)

    def __call__(self, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Plan costs (S, K) of orderings ``sigma, tau`` (S, K, n) (float64)."""
        if self.by_coordinate and sigma.device.type == "cpu":
            cross = self._cross_rows(sigma, tau)
        elif self.by_coordinate:
            cross = self._cross_columns(sigma, tau)
        else:
            flat = (sigma * self.n + tau).flatten(1)  # (S, K*n)
            cross = self.gram.gather(1, flat).view(sigma.shape).mean(-1)  # (S, K)
        return self.const[:, None] - 2 * cross

    def _cross_rows(self, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """``mean_i <x_sigma(i), y_tau(i)>`` (S, K) from orderings (S, K, n): NumPy gathers of
        the matched rows, seed by seed (CPU tensors)."""
        S, K, n = sigma.shape
        x_rows, y_rows = self.x_rows.numpy(), self.y_rows.numpy()
        sigma_np, tau_np = sigma.numpy(), tau.numpy()
        cross = np.empty((S, K))
        for s in range(S):
            matched_x = x_rows[s].take(sigma_np[s], axis=0).reshape(K, -1)  # (K, n*d)
            matched_y = y_rows[s].take(tau_np[s], axis=0).reshape(K, -1)
            np.einsum("kj,kj->k", matched_x, matched_y, out=cross[s])
        return torch.from_numpy(cross / n)

    def _cross_columns(self, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """:meth:`_cross_rows` on any device: a ``torch.gather`` per coordinate."""
        S = sigma.shape[0]
        sigma_flat, tau_flat = sigma.reshape(S, -1), tau.reshape(S, -1)  # (S, K*n)
        products = torch.zeros(sigma_flat.shape, dtype=torch.float64, device=sigma.device)
        for k in range(self.x_columns.shape[1]):
            matched_x = self.x_columns[:, k].gather(1, sigma_flat)
            products.addcmul_(matched_x, self.y_columns[:, k].gather(1, tau_flat))
        return products.view(sigma.shape).mean(-1)  # (S, K)


def matched_targets(y: torch.Tensor, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """``t`` with ``t[sigma_i] = y[tau_i]``: the target of each particle under the plan.

    y (S, n, d), sigma/tau (S, n) -> (S, n, d).
    """
    d = y.shape[-1]
    y_sorted = y.gather(1, tau.unsqueeze(-1).expand(-1, -1, d))
    return torch.empty_like(y_sorted).scatter_(1, sigma.unsqueeze(-1).expand(-1, -1, d), y_sorted)


def plan_cost(x: torch.Tensor, y: torch.Tensor, sigma: torch.Tensor, tau: torch.Tensor):
    """Differentiable ``mean_i |x_sigma(i) - y_tau(i)|^2`` per seed: (S,).

    The plan is fixed (detached orderings); the gradient is ``2/n (x - t)`` with ``t`` the
    matched targets, so backward involves no gather.
    """
    target = matched_targets(y.detach(), sigma, tau)  # (S, n, d)
    return (x - target).square().sum(-1).mean(-1)


def plan_costs(cost: torch.Tensor, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Cost of each permutation plan: cost (S, n, m), sigma/tau (S, K, k) -> (S, K).

    .. math:: h_l = \\frac1k \\sum_i C[\\sigma_l(i), \\tau_l(i)]
    """
    flat = cost.flatten(1)  # (S, n * m)
    index = (sigma * cost.shape[2] + tau).flatten(1)  # (S, K * k)
    return flat.gather(1, index).view(sigma.shape).mean(dim=-1)
