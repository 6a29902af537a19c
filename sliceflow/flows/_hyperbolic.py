"""Shared maths of sliced transport on the Poincaré ball, batched over seeds.

Shapes: ``x`` (S, n, d) ball points, ``y`` (S, m, d), ideal points / directions ``p`` (S, L, d)
unit rows. Projected values are laid out **slices first**, (S, L, n), so that every sort runs
along the last, contiguous axis; sorting goes through NumPy on the CPU (``argsort_last``), about
ten times faster than ``torch.sort`` for rows of a few dozen values, and the sorted values are
then gathered in torch so gradients flow.

Formulas are those of curvature -1; curvature ``-c`` enters by the similarity ``x -> sqrt(c) x``
onto the unit ball, which multiplies every distance, Busemann value and
geodesic coordinate by ``sqrt(c)``: ``B^c_p(x) = B_p(sqrt(c) x) / sqrt(c)`` and likewise for the
geodesic coordinate (the 1D costs scale by ``1 / c``).
"""

from __future__ import annotations

import torch

from sliceflow.flows._slicing import argsort_rows
from sliceflow.manifolds.poincare import squared_distance_argument

RATIO_MIN = 1e-10  # Busemann ratio clamp (METHODS.md)
ARTANH_MAX = 1.0 - 1e-15  # geodesic-projection clamp (METHODS.md)


argsort_last = argsort_rows  # NumPy on the CPU, torch elsewhere


def busemann_ratio(x: torch.Tensor, p: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """``|p - sqrt(c) x|^2 / (1 - c|x|^2)`` clamped ``>= 1e-10``: (S, n, d), (S, L, d) -> (S, L, n).

    Monotone in the Busemann value, so sorting it gives the Busemann order without a log.
    Uses ``|p - x|^2 = 1 - 2 <p, x> + |x|^2`` (unit p): one batched matmul for all directions.
    """
    xs = x * c**0.5 if c != 1.0 else x
    sq = xs.square().sum(-1).unsqueeze(1)  # (S, 1, n)
    gap = 1.0 + sq - 2.0 * torch.bmm(p, xs.transpose(1, 2))  # (S, L, n)
    return (gap / (1.0 - sq)).clamp_min(RATIO_MIN)


def busemann(x: torch.Tensor, p: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Busemann function of the ideal points p on the ball of curvature -c.

    .. math:: B_p(x) = \\frac{1}{\\sqrt c}\\log\\frac{|p - \\sqrt c\\, x|^2}{1 - c|x|^2}

    (ratio clamped ``>= 1e-10``). (S, n, d), (S, L, d) -> (S, L, n).
    """
    values = busemann_ratio(x, p, c).log()
    return values / c**0.5 if c != 1.0 else values


def geodesic_coordinate_lorentz(x_lorentz: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """GHSW coordinate on the geodesic through the origin with unit direction v (curvature -1).

    .. math:: t_v(x) = \\operatorname{arctanh}\\big(\\langle x_{1:}, v\\rangle / x_0\\big)

    argument clamped to ``+-(1 - 1e-15)``. x (S, n, d + 1) hyperboloid, v (S, L, d) -> (S, L, n).
    """
    ratio = torch.bmm(v, x_lorentz[..., 1:].transpose(1, 2)) / x_lorentz[..., 0].unsqueeze(1)
    return ratio.clamp(-ARTANH_MAX, ARTANH_MAX).arctanh()


def geodesic_coordinate(x: torch.Tensor, v: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """:func:`geodesic_coordinate_lorentz` written in ball coordinates, curvature -c.

    With ``x_L = (1 + |x|^2, 2x) / (1 - |x|^2)``,
    ``<x_{L,1:}, v> / x_{L,0} = 2<x, v> / (1 + |x|^2)``
    (no division by ``1 - |x|^2``, so no blow-up at the boundary):

    .. math:: t_v(x) = \\frac{1}{\\sqrt c}\\operatorname{arctanh}\\frac{2\\sqrt c\\,\\langle x, v
              \\rangle}{1 + c|x|^2}

    (S, n, d), (S, L, d) -> (S, L, n).
    """
    root = c**0.5
    scale = 2.0 * root / (1.0 + c * x.square().sum(-1)).unsqueeze(1)  # (S, 1, n)
    ratio = scale * torch.bmm(v, x.transpose(1, 2))  # (S, L, n)
    values = ratio.clamp(-ARTANH_MAX, ARTANH_MAX).arctanh()
    return values / root if c != 1.0 else values


def quantile_order(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the sorted last axis at ``k`` quantile levels: (S, L, n) -> (S, L, k).

    ``k == n``: the argsort. Otherwise the levels ``(j + 1/2) / k`` of
    :func:`sliceflow.flows._slicing.quantiles_1d`.
    """
    order = argsort_last(values).to(values.device)
    n = values.shape[-1]
    if k == n:
        return order
    levels = (torch.arange(k, device=values.device, dtype=torch.float64) + 0.5) / k
    return order[..., (levels * n).floor().long().clamp(max=n - 1)]


def wasserstein2_1d(x_values: torch.Tensor, y_values: torch.Tensor) -> torch.Tensor:
    """Mean over slices of the 1D W2^2 of projected values: (S, L, n), (S, L, m) -> (S,).

    .. math:: \\frac1L \\sum_l \\frac1k \\sum_i (t_l(x)_{(i)} - t_l(y)_{(i)})^2

    with ``k = max(n, m)`` quantile levels.
    """
    sigma, tau = matched_indices(x_values, y_values)  # (S, L, k)
    diff = x_values.gather(-1, sigma) - y_values.gather(-1, tau)
    return diff.square().mean(dim=(1, 2))


def matched_indices(x_values: torch.Tensor, y_values: torch.Tensor):
    """Monotone 1D plans of every slice as index pairs: (S, K, n), (S, K, m) -> 2 x (S, K, k).

    ``sigma[:, l, i]`` and ``tau[:, l, i]`` are the x and y points matched at quantile i of slice
    l, ``k = max(n, m)``.
    """
    k = max(x_values.shape[-1], y_values.shape[-1])
    return quantile_order(x_values, k), quantile_order(y_values, k)


def plan_costs(cost: torch.Tensor, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Cost of each permutation plan: cost (S, n, m), sigma/tau (S, K, k) -> (S, K).

    .. math:: h_l = \\frac1k \\sum_i C[\\sigma_l(i), \\tau_l(i)]
    """
    flat = cost.flatten(1)  # (S, n * m)
    index = (sigma * cost.shape[2] + tau).flatten(1)  # (S, K * k)
    return flat.gather(1, index).view(sigma.shape).mean(dim=-1)


def matched_sq_geodesic(
    x: torch.Tensor, y: torch.Tensor, sigma: torch.Tensor, tau: torch.Tensor, c: float = 1.0
) -> torch.Tensor:
    """Differentiable cost of one plan per seed: mean_i d(x[sigma_i], y[tau_i])^2.

    x (S, n, d), y (S, m, d), sigma/tau (S, k) -> (S,); arccosh argument clamped >= 1 + 1e-15.
    """
    d = x.shape[-1]
    xs = x.gather(1, sigma.unsqueeze(-1).expand(-1, -1, d))  # (S, k, d)
    ys = y.gather(1, tau.unsqueeze(-1).expand(-1, -1, d))  # (S, k, d)
    return (squared_distance_argument(xs, ys, c).arccosh().square() / c).mean(dim=1)
