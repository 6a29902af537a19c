"""Shared maths of sliced transport, on batches of seeds.

Shapes: ``x`` (S, n, d) particles, ``y`` (S, m, d) targets, ``theta`` (S, L, d) directions.
Uniform weights; when ``n != m`` the 1D quantile functions are matched on a common grid.
"""

from __future__ import annotations

import torch


def project(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Projections ``P_theta(x) = x @ theta^T``: (S, n, d), (S, L, d) -> (S, n, L)."""
    return torch.bmm(x, theta.transpose(1, 2))


def quantiles_1d(values: torch.Tensor, n_out: int) -> torch.Tensor:
    """Sorted values along dim 1, resampled to ``n_out`` quantiles when their count differs.

    .. math:: F^{-1}((k + 1/2) / n_{out}), \\quad k = 0..n_{out}-1

    (S, n, L) -> (S, n_out, L). With equal counts this is a plain sort (exact 1D OT).
    """
    values = values.sort(dim=1).values
    n = values.shape[1]
    if n == n_out:
        return values
    levels = (torch.arange(n_out, device=values.device, dtype=values.dtype) + 0.5) / n_out
    index = (levels * n).floor().long().clamp(max=n - 1)
    return values[:, index, :]


def sorted_diff(x_proj: torch.Tensor, y_proj: torch.Tensor) -> torch.Tensor:
    """``sort(P x) - sort(P y)`` along the sample axis: (S, n, L), (S, m, L) -> (S, k, L).

    Equal sizes: exact 1D matching. Unequal sizes: both quantile functions on max(n, m) levels,
    which is exact when one size divides the other and a close approximation otherwise.
    """
    n, m = x_proj.shape[1], y_proj.shape[1]
    k = max(n, m)
    return quantiles_1d(x_proj, k) - quantiles_1d(y_proj, k)


def sliced_wasserstein2(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Monte-Carlo SW_2^2 with the given directions, per seed.

    .. math:: SW_2^2 = \\frac1L \\sum_l \\frac1n \\sum_i (x_{\\sigma(i)}^\\top\\theta_l -
              y_{\\tau(i)}^\\top\\theta_l)^2

    x (S, n, d), y (S, m, d), theta (S, L, d) unit rows -> (S,).
    """
    diff = sorted_diff(project(x, theta), project(y, theta))  # (S, k, L)
    return diff.square().mean(dim=(1, 2))
