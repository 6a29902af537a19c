"""Helpers on the unit sphere S^{d-1} for ideal points of the Poincaré ball (geoopt ``Sphere``).

The Riemannian SGD step of geoopt's ``RiemannianSGD`` on ``Sphere`` (project the
gradient on the tangent space, move, renormalise), in torch and in NumPy for the small arrays of
inner loops, the von Mises–Fisher sampler of Wood (1994) batched over seeds, the reflection that
moves draws around the pole to draws around any mean direction, and the mean resultant length
``A_d(kappa)``. Randomness always comes from one ``torch.Generator`` per seed: a seed draws the
same numbers alone or inside a batch.
"""

from __future__ import annotations

import math

import geoopt
import numpy as np
import torch
from scipy.special import ive

from sliceflow.random import randn

SPHERE = geoopt.Sphere()


def sphere_sgd_step(p: torch.Tensor, egrad: torch.Tensor, lr: float) -> torch.Tensor:
    """One step of geoopt ``RiemannianSGD`` on ``Sphere`` (no momentum), over the last axis.

    .. math:: p \\leftarrow \\frac{p - lr\\, (I - p p^\\top) g}{|p - lr\\, (I - p p^\\top) g|}
    """
    return SPHERE.retr(p, -lr * SPHERE.egrad2rgrad(p, egrad))


def sphere_step(p: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
    """:func:`sphere_sgd_step` in NumPy for a gradient already tangent at p.

    .. math:: p \\leftarrow \\frac{p - lr\\, g}{|p - lr\\, g|}

    p (S, d) unit rows, grad (S, d) tangent at p -> (S, d), a new array.
    """
    p = p - lr * grad
    p /= np.sqrt(np.square(p).sum(-1, keepdims=True))
    return p


def rotate_from_pole(p: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Map draws around the pole e_1 to draws around p: ``H X`` with ``H = I - 2 u u^T / |u|^2``.

    ``u = e_1 - p``; H is orthogonal with ``H e_1 = p`` (identity when p = e_1), so vMF(e_1, kappa)
    draws become vMF(p, kappa) draws. p (S, d), draws (S, N, d) -> (S, N, d).
    """
    u = -p
    u[:, 0] += 1.0
    unorm = np.square(u).sum(-1, keepdims=True)  # (S, 1)
    scale = np.divide(2.0, unorm, out=np.zeros_like(unorm), where=unorm > 1e-300)
    return draws - (draws @ (u * scale)[:, :, None]) * u[:, None]


def wood_parameters(kappa: float, d: int) -> tuple[float, float, float]:
    """Constants ``(b, x0, c)`` of Wood's sampler on S^{d-1} (cancellation-free ``b``)."""
    b = (d - 1) / (2.0 * kappa + math.sqrt(4.0 * kappa**2 + (d - 1) ** 2))
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + (d - 1) * math.log(1.0 - x0**2)
    return b, x0, c


def _wood_w_one(gen: torch.Generator, kappa: float, d: int, count: int) -> torch.Tensor:
    """``count`` draws of ``w = <mu, X>``, X ~ vMF(mu, kappa) on S^{d-1}, float64 (Wood 1994).

    Proposal ``z ~ Beta((d-1)/2, (d-1)/2)`` drawn as ``|g1|^2 / (|g1|^2 + |g2|^2)`` with
    ``g1, g2 ~ N(0, I_{d-1})`` (exact, and it draws from ``gen``), ``w = (1 - (1+b) z) /
    (1 - (1-b) z)``; accept when ``kappa w + (d-1) log(1 - x0 w) - c >= log u``.
    """
    b, x0, c = wood_parameters(kappa, d)
    kept: list[torch.Tensor] = []
    missing = count
    while missing > 0:
        k = missing + missing // 4 + 8  # a few spare proposals: one round nearly always suffices
        g = torch.randn((2, k, d - 1), generator=gen, dtype=torch.float64).square().sum(-1)
        u = torch.rand(k, generator=gen, dtype=torch.float64)
        z = g[0] / (g[0] + g[1])
        w = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        accept = kappa * w + (d - 1) * torch.log1p(-x0 * w) - c >= torch.log(u)
        w = w[accept][:missing]
        kept.append(w)
        missing -= w.numel()
    return torch.cat(kept)


def vmf_radial(generators: list[torch.Generator], kappa: float, d: int, count: int) -> torch.Tensor:
    """Wood's ``w = <mu, X>`` for every seed: (S, count) float64, row i from generators[i]."""
    if d < 2:
        raise ValueError(f"von Mises-Fisher sampling needs a sphere S^(d-1) with d >= 2, got d={d}")
    return torch.stack([_wood_w_one(g, kappa, d, count) for g in generators])


def vmf_from_parts(mu: torch.Tensor, w: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Assemble vMF samples ``X = w mu + sqrt(1 - w^2) v``, ``v`` uniform on mu's tangent sphere.

    ``v`` is the normalised tangent projection ``(I - mu mu^T) z`` of an isotropic Gaussian ``z``
    (uniform on the unit sphere of the tangent space). mu (S, d), w (S, K), z (S, K, d) ->
    (S, K, d). Splitting the draws from the assembly lets a caller draw every perturbation of an
    inner loop at once and apply them to the current mean direction.
    """
    mu = mu.unsqueeze(1)  # (S, 1, d)
    tangent = z - (z * mu).sum(-1, keepdim=True) * mu  # (S, K, d)
    v = tangent / tangent.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    w = w.unsqueeze(-1).to(mu.dtype)
    sample = w * mu + (1.0 - w.square()).clamp_min(0.0).sqrt() * v
    # z nearly parallel to mu leaves rounding along mu in v: renormalise (a ~1e-12 correction).
    return sample / sample.norm(dim=-1, keepdim=True)


def vmf_sample(
    generators: list[torch.Generator], mu: torch.Tensor, kappa: float, count: int
) -> torch.Tensor:
    """``count`` draws of vMF(mu_i, kappa) per seed: mu (S, d) unit rows -> (S, count, d)."""
    d = mu.shape[-1]
    w = vmf_radial(generators, kappa, d, count).to(mu.device)  # (S, count)
    z = randn(generators, (count, d), dtype=mu.dtype, device=mu.device)  # (S, count, d)
    return vmf_from_parts(mu, w, z)


def mean_resultant_length(kappa: float, d: int) -> float:
    """``A_d(kappa) = E <mu, X> = I_{d/2}(kappa) / I_{d/2 - 1}(kappa)`` for vMF on S^{d-1}.

    Ratio of exponentially scaled Bessel functions (``scipy.special.ive``): no overflow.
    """
    return float(ive(d / 2.0, kappa) / ive(d / 2.0 - 1.0, kappa))


__all__ = [
    "mean_resultant_length",
    "rotate_from_pole",
    "sphere_sgd_step",
    "sphere_step",
    "vmf_from_parts",
    "vmf_radial",
    "vmf_sample",
    "wood_parameters",
]
