"""Fixed-support entropic Wasserstein barycentres (iterative Bregman projections).

References: Benamou, Carlier, Cuturi, Nenna, Peyré (2015), "Iterative Bregman projections for
regularized transportation problems", SIAM J. Sci. Comput.; Schmitz et al. (2018), "Wasserstein
dictionary learning", SIAM J. Imaging Sci. (log-domain iterations, gradients through them).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from sliceflow.ot.entropic._bregman import DOMAINS, UnrolledBarycenter, iterate
from sliceflow.ot.entropic._gibbs import GibbsKernel

METHODS = ("parallel", "log")
GRADIENTS = ("unrolled", "autograd")
_SIMPLEX_TOLERANCE = 1e-5


@dataclass(frozen=True)
class BarycenterResult:
    """What :func:`barycenter` returns with ``return_info=True``; one entry per problem.

    ``barycenter`` (n,) or (S, n); ``n_iter`` () or (S,) iterations run; ``error`` the marginal
    error ``||U * (K V) - A||_2`` of the returned iterate (None when ``tol`` is None and it was not
    asked for); ``converged`` ``error < tol`` (None in fixed-iteration mode, which has no target).
    """

    barycenter: torch.Tensor
    n_iter: torch.Tensor
    error: torch.Tensor | None
    converged: torch.Tensor | None


def barycenter(
    A: torch.Tensor,
    cost: torch.Tensor,
    weights: torch.Tensor,
    reg: float,
    method: str = "parallel",
    gradient: str = "unrolled",
    max_iter: int = 1000,
    tol: float | None = 1e-6,
    return_info: bool = False,
) -> torch.Tensor | BarycenterResult:
    """Entropic Wasserstein barycentre of histograms on a fixed support.

    .. math:: U = A / (K V), \\quad b = \\prod_k (K^\\top U_k)^{w_k}, \\quad
              V_k = b / (K^\\top U_k), \\quad K = e^{-C / \\mathrm{reg}}, \\quad V^{(0)} = 1

    Parameters
    ----------
    A : Tensor (n, K) or (S, n, K)
        K histograms on n bins, in columns: nonnegative, each with positive mass. Each column is
        divided by its mass before iterating (the gradient includes this division), so the
        histograms need not be normalised.
    cost : Tensor (n, n)
        Ground cost between bins, shared by all problems.
    weights : Tensor (K,) or (S, K)
        Barycentric weights on the simplex (nonnegative, summing to 1 within 1e-5).
    reg : float
        Entropic regularisation, > 0.
    method : {"parallel", "log"}
        "parallel": the scaling form above, all histograms and problems at once; "log": the same
        iterates in the log domain with log-sum-exp, stable for small ``reg``.
    gradient : {"unrolled", "autograd"}
        "unrolled": a hand-written reverse sweep over stored vectors (two (n, S, K) tensors per
        iteration); "autograd": torch autograd through the same loop (a reference, more memory).
    max_iter : int
        Iteration cap.
    tol : float or None
        Stop a problem once ``||U * (K V) - A||_2 < tol`` (Frobenius norm over its (n, K)). ``None``
        or 0: exactly ``max_iter`` iterations with no checks, the fast fixed-iteration mode.
    return_info : bool
        Return a :class:`BarycenterResult` (iterations, error, convergence) instead of ``b``.

    Returns
    -------
    b : Tensor (n,), or (S, n) if ``A`` or ``weights`` has a batch axis
        ``b / sum(b)`` at each problem's last iteration, in the promoted dtype of the inputs.

    Notes
    -----
    Broadcasting: the optional leading axis ``S`` indexes independent problems: ``A (S, n, K)``
    with ``weights (K,)`` or ``(S, K)``, or ``A (n, K)`` with ``weights (S, K)``: S barycentres of
    the same atoms (dictionary-learning reconstructions), one GEMM over S * K columns per
    half-iteration. Converged problems are frozen: a problem's result does not depend on its batch.

    In tol mode a problem that reaches ``max_iter`` unconverged raises a ``RuntimeWarning`` and is
    flagged in the result. Non-finite iterates raise ``ValueError`` (with "parallel" this means
    ``exp(-C / reg)`` underflowed: use "log" or a larger ``reg``).

    Gradients w.r.t. ``A``, ``weights`` and ``cost`` (not ``reg``) are those of exactly what is
    computed: the truncated iteration and the final normalisation ``b / sum(b)``. POT's
    ``ot.bregman.barycenter`` returns ``b`` unnormalised and its autograd gradient omits the
    normalisation; the two differ by a multiple of ``(1, ..., 1)`` on the gradient w.r.t. ``b``,
    i.e. only off the simplex's tangent space (the sum of ``b`` tends to 1 at convergence). On
    empty bins (``A = 0``) the gradient w.r.t. ``A`` is one-sided, and when ``reg`` is small it is
    huge and ill-conditioned (``U = A / K V`` with a tiny ``K V``; autograd through the log domain
    gives NaN there): differentiate w.r.t. strictly positive histograms (e.g. a softmax).

    Agreement with POT (same inputs, normalised): "log" equals ``barycenter(method="sinkhorn_log")``
    and "parallel" equals ``barycenter_stabilized`` (with ``tau`` above any scaling, so no
    absorption) iteration for iteration, up to the final normalisation. ``method="sinkhorn"``
    starts from one iteration using the unweighted geometric mean: with uniform weights and a
    symmetric cost its ``numItermax=T`` equals our ``max_iter=T + 1``; with other weights the
    factor ``prod_k V_k^{w_k}`` never returns to 1 and POT converges to a different point, so it is
    not the reference there. POT's stopping rules (marginal spread or sup error every 10
    iterations) differ from ours, and its log domain adds 1e-16 inside ``log(A)`` where we keep
    empty bins exact.
    """
    a, cost, weights, batched = _prepare(A, cost, weights, reg, method, gradient, max_iter, tol)
    fixed = tol is None or tol == 0
    tol = None if fixed else float(tol)
    want_error = return_info
    needs_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (a, cost, weights))
    if gradient == "unrolled" and needs_grad:
        b, n_iter, error = UnrolledBarycenter.apply(
            a, cost, weights, float(reg), method, max_iter, tol, want_error
        )
    else:
        with torch.set_grad_enabled(needs_grad):
            domain = DOMAINS[method](GibbsKernel(cost, float(reg)), a)
            batch = max(a.shape[1], weights.shape[0])
            trace = iterate(domain, weights, batch, max_iter, tol, want_error=want_error)
            b, n_iter, error = trace.log_b.softmax(dim=0), trace.n_iter, trace.error
    b = b.T  # (S, n)
    converged = None if fixed else error < tol
    if converged is not None and not converged.all():
        warnings.warn(
            f"barycenter: {int((~converged).sum())} of {len(converged)} problems did not reach "
            f"tol={tol} in max_iter={max_iter} iterations (largest error "
            f"{float(error.max()):.2e}); raise max_iter or reg",
            RuntimeWarning,
            stacklevel=2,
        )
    if not batched:
        b, n_iter = b[0], n_iter[0]
        error = error[0] if error is not None else None
        converged = converged[0] if converged is not None else None
    if return_info:
        return BarycenterResult(b, n_iter, error, converged)
    return b


def _prepare(A, cost, weights, reg, method, gradient, max_iter, tol):
    """Check the inputs (one-line ValueError each) and lay them out for the iterations.

    Returns ``a`` (n, S_a, K) normalised columns, ``cost`` (n, n), ``weights`` (S_w, K), and
    whether the output has a batch axis.
    """
    _check_options(method, gradient, max_iter, tol, reg)
    A, cost, weights = (torch.as_tensor(x) for x in (A, cost, weights))
    dtype = torch.promote_types(torch.promote_types(A.dtype, cost.dtype), weights.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    A, cost, weights = (x.to(dtype) for x in (A, cost, weights))
    if A.dim() not in (2, 3) or A.shape[-1] == 0 or A.shape[-2] == 0:
        raise ValueError(
            f"A must have shape (n, K) or (S, n, K), histograms in columns; got {tuple(A.shape)}"
        )
    n, n_hist = A.shape[-2:]
    if cost.shape != (n, n):
        raise ValueError(
            f"cost must have shape (n, n) = ({n}, {n}) to match the {n} bins of A; "
            f"got {tuple(cost.shape)}"
        )
    if weights.dim() not in (1, 2) or weights.shape[-1] != n_hist:
        raise ValueError(
            f"weights must have shape (K,) or (S, K) with K = {n_hist} histograms (columns of A); "
            f"got {tuple(weights.shape)}"
        )
    batch_a = A.shape[0] if A.dim() == 3 else 1
    batch_w = weights.shape[0] if weights.dim() == 2 else 1
    if batch_a != batch_w and 1 not in (batch_a, batch_w):
        raise ValueError(
            f"A has {batch_a} problems but weights has {batch_w} rows; give one row per problem "
            "or a single (K,) vector"
        )
    _check_values(A, cost, weights)
    a = A if A.dim() == 3 else A[None]
    a = (a / a.sum(dim=1, keepdim=True)).permute(1, 0, 2)  # (n, S_a, K)
    return a, cost, weights.reshape(batch_w, n_hist), A.dim() == 3 or weights.dim() == 2


def _check_options(method, gradient, max_iter, tol, reg) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {', '.join(GRADIENTS)}; got {gradient!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    if tol is not None and not (float(tol) >= 0 and math.isfinite(float(tol))):
        raise ValueError(f"tol must be None, 0 (fixed iterations) or a positive number; got {tol}")
    if not (float(reg) > 0 and math.isfinite(float(reg))):
        raise ValueError(f"reg must be a positive finite number; got {reg}")


def _check_values(A, cost, weights) -> None:
    with torch.no_grad():
        if not A.isfinite().all():
            raise ValueError("A has NaN or infinite entries; histograms must be finite")
        if (A < 0).any():
            raise ValueError(
                f"A has negative entries (min {float(A.min()):.3g}); histograms must be "
                "nonnegative: clip or shift them"
            )
        empty = (A.sum(dim=-2) <= 0).nonzero()
        if len(empty):
            where = "histogram {1} of problem {0}" if A.dim() == 3 else "histogram {0}"
            raise ValueError(
                f"A has zero mass in {where.format(*empty[0].tolist())} (column of A); "
                "drop it or give it positive entries"
            )
        if not cost.isfinite().all():
            raise ValueError("cost has NaN or infinite entries; it must be finite")
        if not weights.isfinite().all() or (weights < 0).any():
            raise ValueError("weights must be finite and nonnegative (on the simplex)")
        gap = float((weights.sum(dim=-1) - 1).abs().max())
        if gap > _SIMPLEX_TOLERANCE:
            raise ValueError(
                f"weights must sum to 1 (off by {gap:.2g}); normalise them: "
                "weights / weights.sum(-1, keepdim=True)"
            )
