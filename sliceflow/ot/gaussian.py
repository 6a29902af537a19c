"""Closed forms for Gaussians: the Ornstein–Uhlenbeck law, Bures–Wasserstein distance and
barycentre, entropy, KL.

All functions work in float64 on batches: means ``(S, d)``, covariances ``(S, d, d)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

_SIMPLEX_TOLERANCE = 1e-5


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


def _root(values: torch.Tensor) -> torch.Tensor:
    return values.clamp(min=0).sqrt()


@dataclass(frozen=True)
class BuresBarycenterResult:
    """``mean`` (d,), ``cov`` (d, d), ``n_iter`` fixed-point steps run, ``converged`` (bool)."""

    mean: torch.Tensor
    cov: torch.Tensor
    n_iter: int
    converged: bool


def bures_barycenter(
    means: torch.Tensor,
    covs: torch.Tensor,
    weights: torch.Tensor,
    tol: float = 1e-10,
    max_iter: int = 1000,
    return_info: bool = False,
) -> tuple[torch.Tensor, torch.Tensor] | BuresBarycenterResult:
    """W2 barycentre of the Gaussians ``N(m_k, S_k)`` with weights ``w_k``: a Gaussian ``N(m, S)``.

    .. math:: m = \\sum_k w_k m_k, \\quad S = \\sum_k w_k (S^{1/2} S_k S^{1/2})^{1/2},
              \\quad S \\leftarrow S^{-1/2} \\Big(\\sum_k w_k (S^{1/2} S_k S^{1/2})^{1/2}\\Big)^2
              S^{-1/2}

    Parameters
    ----------
    means : Tensor (K, d)
    covs : Tensor (K, d, d)
        Symmetric positive definite covariances.
    weights : Tensor (K,)
        On the simplex (nonnegative, summing to 1 within 1e-5).
    tol : float
        Stop when ``||S_new - S||_F <= tol * ||S||_F``.
    max_iter : int
        Cap on fixed-point steps; reaching it unconverged raises a ``RuntimeWarning``.
    return_info : bool
        Return a :class:`BuresBarycenterResult` instead of ``(mean, cov)``.

    Returns
    -------
    mean : Tensor (d,), cov : Tensor (d, d)
        In the promoted floating dtype of the inputs (use float64 for tight tolerances).

    Notes
    -----
    The iteration starts from ``sum_k w_k S_k``, stays symmetric positive definite and converges
    (Álvarez-Esteban et al. 2016, Thm. 4.2) to the unique minimiser of
    ``sum_k w_k W2^2(N(m, S), N(m_k, S_k))``. In 1-D, and whenever the ``S_k``
    commute, ``S^{1/2} = sum_k w_k S_k^{1/2}``.
    """
    means, covs, weights = _check_gaussians(means, covs, weights, tol, max_iter)
    mean = weights @ means  # (d,)
    cov = torch.einsum("k,kij->ij", weights, covs)
    converged, n_iter = False, 0
    while n_iter < max_iter and not converged:
        n_iter += 1
        root = sym_apply(cov, _root)
        inverse_root = torch.linalg.inv(root)
        middle = torch.einsum("k,kij->ij", weights, sym_apply(root @ covs @ root, _root))
        updated = inverse_root @ middle @ middle @ inverse_root
        updated = (updated + updated.T) / 2  # rounding drifts off symmetry
        change = torch.linalg.matrix_norm(updated - cov) / torch.linalg.matrix_norm(cov)
        cov, converged = updated, bool(change <= tol)
    if not converged:
        warnings.warn(
            f"bures_barycenter did not reach tol={tol} in max_iter={max_iter} steps; raise "
            "max_iter or use float64",
            RuntimeWarning,
            stacklevel=2,
        )
    if return_info:
        return BuresBarycenterResult(mean, cov, n_iter, converged)
    return mean, cov


def _check_gaussians(means, covs, weights, tol, max_iter):
    """One-line ValueErrors for bad shapes or values; returns the inputs in one float dtype."""
    means, covs, weights = (torch.as_tensor(x) for x in (means, covs, weights))
    dtype = torch.promote_types(torch.promote_types(means.dtype, covs.dtype), weights.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    means, covs, weights = (x.to(dtype) for x in (means, covs, weights))
    if means.dim() != 2:
        raise ValueError(f"means must have shape (K, d); got {tuple(means.shape)}")
    n_gauss, d = means.shape
    if covs.shape != (n_gauss, d, d):
        got = tuple(covs.shape)
        raise ValueError(f"covs must have shape (K, d, d) = {(n_gauss, d, d)}; got {got}")
    if weights.shape != (n_gauss,):
        raise ValueError(f"weights must have shape (K,) = ({n_gauss},); got {tuple(weights.shape)}")
    if not (means.isfinite().all() and covs.isfinite().all() and weights.isfinite().all()):
        raise ValueError("means, covs and weights must be finite")
    if (weights < 0).any() or abs(float(weights.sum()) - 1) > _SIMPLEX_TOLERANCE:
        raise ValueError("weights must lie on the simplex; normalise them: weights / weights.sum()")
    scale = covs.abs().amax(dim=(-2, -1), keepdim=True).clamp(min=1e-300)
    if ((covs - covs.mT).abs() > 1e-8 * scale).any():
        raise ValueError("covs must be symmetric; symmetrise them: (S + S.mT) / 2")
    if (torch.linalg.eigvalsh(covs) <= 0).any():
        raise ValueError("covs must be positive definite; add a small multiple of the identity")
    if not (tol >= 0) or type(max_iter) is not int or max_iter < 1:
        raise ValueError(f"tol must be >= 0 and max_iter a positive integer; got {tol}, {max_iter}")
    return means, covs, weights
