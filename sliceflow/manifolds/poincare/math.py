"""Hyperbolic maths on batches of seeds: the Lorentz and Poincaré models, geodesic distances,
Busemann functions and geodesic projections (the slices of HHSW, GHSW and DGSWP on the ball).

Lorentz model (curvature -1): ``<x, y>_L = -x0 y0 + sum_i xi yi``, hyperboloid ``<x, x>_L = -1``,
``x0 > 0``, origin ``(1, 0, ..., 0)``. Formulas are those of curvature -1; curvature ``-c`` enters
by the similarity ``x -> sqrt(c) x`` onto the unit ball, which multiplies every distance, Busemann
value and geodesic coordinate by ``sqrt(c)``: ``B^c_p(x) = B_p(sqrt(c) x) / sqrt(c)`` and likewise
for the geodesic coordinate (the 1D costs scale by ``1 / c``).

Shapes: ``x`` (S, n, d) ball points, ``y`` (S, m, d), ideal points / directions ``p`` (S, L, d)
unit rows. Projected values are laid out **slices first**, (S, L, n), so that every sort runs
along the last, contiguous axis (``sliceflow.ot.sliced.argsort_rows``).
"""

from __future__ import annotations

import torch

ACOSH_MIN = 1.0 + 1e-15  # arccosh argument clamp of geodesic distances and exact traces
RATIO_MIN = 1e-10  # Busemann ratio clamp
ARTANH_MAX = 1.0 - 1e-15  # geodesic-projection clamp


# -- Lorentz model (curvature -1) -------------------------------------------------------------
def minkowski_inner(x: torch.Tensor, y: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Minkowski product ``<x, y>_L = -x_0 y_0 + sum_{i>=1} x_i y_i`` over the last axis."""
    product = x[..., 1:].mul(y[..., 1:]).sum(-1) - x[..., 0] * y[..., 0]
    return product.unsqueeze(-1) if keepdim else product


def lorentz_to_poincare(x: torch.Tensor) -> torch.Tensor:
    """Hyperboloid -> ball: ``x_{1:} / (1 + x_0)``; (..., d + 1) -> (..., d)."""
    return x[..., 1:] / (1.0 + x[..., :1])


def poincare_to_lorentz(x: torch.Tensor) -> torch.Tensor:
    """Ball -> hyperboloid: ``(1 + |x|^2, 2 x) / (1 - |x|^2)``; (..., d) -> (..., d + 1)."""
    sq = x.square().sum(-1, keepdim=True)
    return torch.cat([1.0 + sq, 2.0 * x], dim=-1) / (1.0 - sq)


def parallel_transport_from_origin(mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Parallel transport of ``v`` (tangent at the origin, ``v_0 = 0``) to ``mu`` (hyperboloid).

    .. math:: PT_{x_0 \\to \\mu}(v) = v + \\frac{\\langle \\mu, v\\rangle_L}{1 - \\langle \\mu,
              x_0\\rangle_L} (x_0 + \\mu)

    mu (..., d + 1), v (..., d + 1) -> (..., d + 1).
    """
    origin = torch.zeros_like(mu)
    origin[..., 0] = 1.0
    coef = minkowski_inner(mu, v, keepdim=True) / (1.0 + mu[..., :1])  # 1 - <mu, x0>_L = 1 + mu0
    return v + coef * (origin + mu)


def lorentz_expmap(mu: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Exponential map on the hyperboloid at ``mu`` of the tangent vector ``u``.

    .. math:: \\exp_\\mu(u) = \\cosh(|u|_L)\\, \\mu + \\sinh(|u|_L)\\, u / |u|_L

    with ``|u|_L = sqrt(<u, u>_L)``; ``u = 0`` maps to ``mu``. (..., d + 1) -> (..., d + 1).
    """
    norm = minkowski_inner(u, u, keepdim=True).clamp_min(0.0).sqrt()
    safe = norm.clamp_min(1e-15)
    return torch.cosh(norm) * mu + torch.sinh(safe) * u / safe


def lorentz_logmap(mu: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`lorentz_expmap`: tangent vector at ``mu`` pointing to ``x``.

    .. math:: \\log_\\mu(x) = \\frac{\\operatorname{arccosh}(\\alpha)}{\\sqrt{\\alpha^2 - 1}}
              (x - \\alpha \\mu), \\quad \\alpha = -\\langle \\mu, x \\rangle_L
    """
    alpha = (-minkowski_inner(mu, x, keepdim=True)).clamp_min(ACOSH_MIN)
    return torch.arccosh(alpha) / (alpha.square() - 1.0).sqrt() * (x - alpha * mu)


# -- Poincaré ball -------------------------------------------------------------------------------
def geodesic_distance(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Geodesic distance on the ball of curvature ``-c``, broadcast over leading axes.

    .. math:: d(x, y) = \\frac{1}{\\sqrt c} \\operatorname{arccosh}\\Big(1 + \\frac{2 c |x - y|^2}
              {(1 - c|x|^2)(1 - c|y|^2)}\\Big)

    The arccosh argument is clamped at ``>= 1 + 1e-15``. (..., d), (..., d) -> (...).
    """
    return squared_distance_argument(x, y, c).arccosh() / c**0.5


def squared_distance_argument(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """The clamped arccosh argument ``1 + 2c|x - y|^2 / ((1 - c|x|^2)(1 - c|y|^2))``."""
    gap = (x - y).square().sum(-1)
    den = (1.0 - c * x.square().sum(-1)) * (1.0 - c * y.square().sum(-1))
    return (1.0 + 2.0 * c * gap / den).clamp_min(ACOSH_MIN)


def squared_geodesic_cost(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Pairwise ``d(x_i, y_j)^2``: (..., n, d), (..., m, d) -> (..., n, m)."""
    return geodesic_distance(x.unsqueeze(-2), y.unsqueeze(-3), c).square()


# -- slices ----------------------------------------------------------------------------------------
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
