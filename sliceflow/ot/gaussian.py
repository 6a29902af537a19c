"""Closed forms for Gaussians: the Ornstein–Uhlenbeck law, Bures–Wasserstein distance, entropy, KL.

All functions work in float64 on batches: means ``(S, d)``, covariances ``(S, d, d)``.
"""

from __future__ import annotations

import math

import torch


def sym_apply(matrix: torch.Tensor, fn) -> torch.Tensor:
    """``fn`` applied to the eigenvalues of symmetric ``matrix`` (..., d, d)."""
    values, vectors = torch.linalg.eigh(0.5 * (matrix + matrix.transpose(-1, -2)))
    return (vectors * fn(values).unsqueeze(-2)) @ vectors.transpose(-1, -2)


def ou_law(
    drift: torch.Tensor,
    center: torch.Tensor,
    diffusion: float,
    mean0: torch.Tensor,
    cov0: torch.Tensor,
    t: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Law at time ``t`` of ``dX = -M (X - b) dt + sqrt(2 D) dW`` from ``N(mu0, Sigma0)``.

    .. math:: \\mu_t = b + e^{-tM}(\\mu_0 - b), \\quad
              \\Sigma_t = e^{-tM}\\Sigma_0 e^{-tM} + D M^{-1}(I - e^{-2tM})

    This is the Wasserstein gradient flow of ``F = E V + D E log rho`` with
    ``V(x) = (x - b)^T M (x - b) / 2`` (M symmetric positive definite;
    stationary law N(b, D M^{-1})).
    ``drift`` M (d, d), ``center`` b (d,), ``mean0`` (..., d), ``cov0`` (..., d, d).
    """
    expm = sym_apply(drift, lambda v: torch.exp(-t * v))  # e^{-tM}
    stationary = sym_apply(drift, lambda v: diffusion * (1 - torch.exp(-2 * t * v)) / v)
    mean = center + (mean0 - center) @ expm.T
    cov = expm @ cov0 @ expm + stationary
    return mean, cov


def fit_gaussian(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Empirical mean (S, d) and covariance (S, d, d) (normalised by n) of particles (S, n, d)."""
    x = x.to(torch.float64)
    mean = x.mean(dim=1)
    centred = x - mean.unsqueeze(1)
    return mean, centred.transpose(1, 2) @ centred / x.shape[1]


def bures_w2sq(
    mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor
) -> torch.Tensor:
    """Squared W2 between Gaussians (Bures–Wasserstein), per batch row.

    .. math:: W_2^2 = |m_1 - m_2|^2 + tr\\Sigma_1 + tr\\Sigma_2
              - 2 tr(\\Sigma_2^{1/2}\\Sigma_1\\Sigma_2^{1/2})^{1/2}
    """
    root2 = sym_apply(cov2, lambda v: v.clamp(min=0).sqrt())
    cross = sym_apply(root2 @ cov1 @ root2, lambda v: v.clamp(min=0).sqrt())
    trace = cov1.diagonal(dim1=-2, dim2=-1).sum(-1) + cov2.diagonal(dim1=-2, dim2=-1).sum(-1)
    value = (mean1 - mean2).square().sum(-1) + trace - 2 * cross.diagonal(dim1=-2, dim2=-1).sum(-1)
    return value.clamp(min=0)


def gaussian_entropy(cov: torch.Tensor) -> torch.Tensor:
    """Differential entropy of N(m, Sigma): ``(d/2) log(2 pi e) + (1/2) log det Sigma``."""
    d = cov.shape[-1]
    return 0.5 * d * math.log(2 * math.pi * math.e) + 0.5 * torch.linalg.slogdet(cov).logabsdet


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; m, Sigma) for x (S, n, d), mean (S, d), cov (S, d, d) -> (S, n)."""
    chol = torch.linalg.cholesky(cov)
    centred = (x.to(cov.dtype) - mean.unsqueeze(1)).transpose(1, 2)  # (S, d, n)
    white = torch.linalg.solve_triangular(chol, centred, upper=False)
    half_logdet = chol.diagonal(dim1=-2, dim2=-1).log().sum(-1, keepdim=True)
    d = cov.shape[-1]
    return -0.5 * white.square().sum(1) - half_logdet - 0.5 * d * math.log(2 * math.pi)
