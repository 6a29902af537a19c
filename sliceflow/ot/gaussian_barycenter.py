"""Wasserstein-2 barycentre of Gaussians (Bures geometry of covariance matrices).

References: Agueh & Carlier (2011), "Barycenters in the Wasserstein space", SIAM J. Math. Anal.;
Álvarez-Esteban, del Barrio, Cuesta-Albertos, Matrán (2016), "A fixed-point approach to
barycenters in Wasserstein space", J. Math. Anal. Appl. (the iteration used here).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

_SIMPLEX_TOLERANCE = 1e-5


@dataclass(frozen=True)
class BuresBarycenterResult:
    """``mean`` (d,), ``cov`` (d, d), ``n_iter`` fixed-point steps run, ``converged`` (bool)."""

    mean: torch.Tensor
    cov: torch.Tensor
    n_iter: int
    converged: bool


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Principal square root of symmetric positive semi-definite matrices (..., d, d).

    .. math:: S^{1/2} = Q \\,\\mathrm{diag}(\\sqrt{\\max(\\lambda, 0)})\\, Q^\\top, \\quad
              S = Q \\,\\mathrm{diag}(\\lambda)\\, Q^\\top
    """
    eigenvalues, vectors = torch.linalg.eigh(matrix)
    return (vectors * eigenvalues.clamp(min=0).sqrt().unsqueeze(-2)) @ vectors.mT


def bures_wasserstein2(
    mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor
) -> torch.Tensor:
    """Squared W2 distance between Gaussians, broadcast over leading axes.

    .. math:: W_2^2 = |m_1 - m_2|^2 + \\mathrm{tr}\\big(S_1 + S_2
              - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}\\big)

    means (..., d), covs (..., d, d) -> (...).
    """
    root1 = sqrtm_psd(cov1)
    cross = sqrtm_psd(root1 @ cov2 @ root1)
    trace = (cov1 + cov2 - 2 * cross).diagonal(dim1=-2, dim2=-1).sum(-1)
    return (mean1 - mean2).square().sum(-1) + trace


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
        root = sqrtm_psd(cov)
        inverse_root = torch.linalg.inv(root)
        middle = torch.einsum("k,kij->ij", weights, sqrtm_psd(root @ covs @ root))
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
