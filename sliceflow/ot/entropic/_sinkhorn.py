"""Entropic optimal transport by Sinkhorn iterations, with exact unrolled or envelope gradients.

Shapes: unbatched ``a`` (n,), ``b`` (m,), ``cost`` (n, m) or batched ``(S, n)``, ``(S, m)``,
``(S, n, m)`` (S independent problems in one computation); unbatched in, unbatched out.
Conventions: ``P = diag(u) K diag(v)``, ``K = exp(-C / reg)``, potentials ``f = reg log u``,
``g = reg log v`` (so ``P = exp((f + g - C) / reg)``).

References: M. Cuturi, "Sinkhorn Distances", NeurIPS 2013; F. Xie, "Deriving the Gradients of Some
Popular Optimal Transport Algorithms", arXiv:2504.08722 (2025); J. Feydy et al., "Interpolating
between Optimal Transport and MMD using Sinkhorn Divergences", AISTATS 2019.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from sliceflow.ot.entropic._sinkhorn_checks import (
    all_finite,
    check_clouds,
    check_options,
    check_problem,
    check_weights,
)
from sliceflow.ot.entropic._sinkhorn_solve import SinkhornResult, first_problem, solve


def sinkhorn(
    a: torch.Tensor,
    b: torch.Tensor,
    cost: torch.Tensor,
    reg: float,
    method: str = "log",
    gradient: str = "unrolled",
    max_iter: int = 1000,
    tol: float = 1e-6,
    *,
    scaling: float | None = None,
    underflow: str = "raise",
) -> SinkhornResult:
    r"""Entropic optimal transport between histograms by Sinkhorn iterations.

    .. math:: \min_{P 1 = a,\ P^\top 1 = b} \langle P, C\rangle
              + \mathrm{reg} \sum_{ij} P_{ij} (\log P_{ij} - 1)

    ``method="vanilla"`` iterates ``u = a / (K v)``, ``v = b / (K^T u)`` from ``v = 1`` with
    ``K = exp(-C / reg)``; ``method="log"`` runs the same iterates in the log domain,
    ``f = reg log a - reg LSE_j((g_j - C_ij) / reg)`` and likewise for g (stable for small reg).
    A problem stops when ``||u * (K v) - a||_2 < tol`` after the v update, or at ``max_iter``;
    within a batch, a converged problem is frozen (its iterates stop changing), so its result
    does not depend on the batch it is in. Non-convergence is reported in ``converged``.
    Vanilla raises ``SinkhornUnderflowError`` (a ``ValueError`` naming ``method="log"``) when
    K or an iterate under/overflows, and when a problem ends unconverged with entries of K
    that underflowed to 0: the support left may hold no plan with marginals a and b (e.g.
    ``a = [.5, .5]``, ``b = [.3, .7]``, ``C = [[0, 1000], [1000, 1]]``, reg 1), which the log
    domain still represents.

    Gradients (with respect to ``a``, ``b``, ``cost`` when they require grad):

    - ``"unrolled"``: the exact gradient of the truncated iteration (every output is a function
      of the final ``f, g``), by a hand-written reverse sweep over the stored iterate vectors;
      memory O(max_iter (n + m)) per problem instead of O(max_iter n m) for autograd.
    - ``"envelope"``: Danskin's theorem at the returned potentials: only ``entropic_cost`` is
      differentiable, with ``dE/dC = P``, ``dE/da = f``, ``dE/db = g`` (``a, b`` live on the
      simplex, so these hold up to an additive constant). Exact at convergence; memory
      independent of the number of iterations. ``plan``, ``f``, ``g``, ``transport_cost`` come
      back detached.
    - ``"autograd"``: torch autograd through the same loop (a reference; memory grows with the
      number of iterations).

    Relation to other libraries: POT's ``ot.sinkhorn`` returns ``plan`` and ``ot.sinkhorn2``
    returns ``transport_cost``; POT's ``log_u`` is ``f / reg``. At convergence the dual value
    ``<f, a> + <g, b>`` equals ``entropic_cost + reg``; GeomLoss's potentials are
    ``f - reg log a``, ``g - reg log b`` and its (biased) value is
    ``entropic_cost + reg (1 - <a, log a> - <b, log b>) = <P, C> + reg KL(P | a b^T)``.

    Parameters
    ----------
    a : tensor (n,) or (S, n), positive, summing to one
    b : tensor (m,) or (S, m), positive, summing to one
    cost : tensor (n, m) or (S, n, m), finite
    reg : float > 0, entropic regularisation (GeomLoss's ``blur ** p`` for the cost ``|x-y|^p/p``)
    method : ``"log"`` or ``"vanilla"``
    gradient : ``"unrolled"``, ``"envelope"`` or ``"autograd"``
    max_iter : int, iterations at most (annealing iterations included)
    tol : float, tolerance on the row-marginal error
    scaling : float in (0, 1), optional (log only). Epsilon-scaling: iteration k uses
        ``max(reg, (max C - min C) * scaling^(k-1))`` per problem, warm-starting the
        potentials; convergence is tested only once the target reg is reached.
    underflow : ``"raise"`` (default) or ``"flag"`` (vanilla only): an unconverged problem
        whose kernel underflowed is an error, or comes back with ``converged`` False for the
        caller to count (a particle flow counts it per seed).

    Returns
    -------
    SinkhornResult
    """
    a, b, cost, unbatched = check_problem(a, b, cost)
    check_options(reg, method, gradient, max_iter, tol, scaling, underflow)
    start = None if scaling is None else _cost_range(cost)
    result = solve(a, b, cost, float(reg), method, gradient, max_iter, tol, start, scaling,
                   underflow=underflow)  # fmt: skip
    return first_problem(result) if unbatched else result


def squared_euclidean_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Squared Euclidean cost matrix.

    .. math:: C_{ij} = |x_i - y_j|^2 = |x_i|^2 + |y_j|^2 - 2 x_i^\top y_j

    x (S, n, d) or (n, d), y (S, m, d) or (m, d) -> (S, n, m) or (n, m). The expanded form keeps
    the autograd graph small (it saves x and y, not an (n, m, d) difference).
    """
    squared_x = x.square().sum(-1).unsqueeze(-1)  # (S, n, 1)
    squared_y = y.square().sum(-1).unsqueeze(-2)  # (S, 1, m)
    # in place on the product, which (b)mm does not save: one n x m allocation
    return torch.matmul(x, y.transpose(-1, -2)).mul_(-2).add_(squared_x).add_(squared_y)


@dataclass(frozen=True)
class SinkhornDivergenceResult:
    """Outcome of :func:`sinkhorn_divergence`; no ``S`` axis for unbatched clouds.

    Attributes
    ----------
    value : tensor (S,)
        the debiased divergence, or ``OT_reg(x, y)`` when ``debias=False``
    converged : bool tensor (S,)
        whether every Sinkhorn problem behind ``value`` converged
    n_iter : int64 tensor (S,)
        iterations of the slowest of those problems
    xy, xx, yy : SinkhornResult
        each problem's result (``xx``, ``yy`` are None without debiasing)
    """

    value: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor
    xy: SinkhornResult
    xx: SinkhornResult | None
    yy: SinkhornResult | None


def sinkhorn_divergence(
    x: torch.Tensor,
    y: torch.Tensor,
    reg: float,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    cost: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    scaling: float | None = None,
    method: str = "log",
    gradient: str = "envelope",
    max_iter: int = 1000,
    tol: float = 1e-6,
    debias: bool = True,
    underflow: str = "raise",
) -> SinkhornDivergenceResult:
    r"""Debiased Sinkhorn divergence between point clouds, differentiable in ``x`` and ``y``.

    .. math:: S_{reg}(x, y) = OT_{reg}(x, y) - \tfrac12 OT_{reg}(x, x) - \tfrac12 OT_{reg}(y, y),
              \quad OT_{reg} = \min_P \langle P, C\rangle + reg\, KL(P \,|\, a b^\top)

    ``OT_reg`` is GeomLoss's convention (its value ``<f, a> + <g, b>`` at convergence); it equals
    :func:`sinkhorn`'s ``entropic_cost + reg (1 - <a, log a> - <b, log b>)``, and these constants
    cancel in ``S``, so ``S`` is the same in both conventions. GeomLoss's
    ``SamplesLoss("sinkhorn", p=2, blur=blur)`` uses the cost ``|x - y|^2 / 2`` and
    ``reg = blur^2``: it matches ``cost=lambda x, y: squared_euclidean_cost(x, y) / 2``,
    ``reg=blur**2``. With ``gradient="envelope"`` the gradient in ``x_i`` is
    ``sum_j P^{xy}_ij grad_x C(x_i, y_j) - sum_j P^{xx}_ij grad_x C(x_i, x_j)`` (exact at
    convergence), which is what a particle flow descends.

    ``OT(x, x)`` and ``OT(y, y)`` use the symmetric averaged iteration
    ``f <- (f + T(f)) / 2`` (Feydy et al. 2019; vanilla: ``u <- sqrt(u a / (K u))``), with
    ``T(f) = reg log a - reg LSE((f - C) / reg)``: alternating updates converge in thousands of
    iterations on a self-transport problem at small reg, this one in tens. Its stopping rule is
    ``||u * (K u) - a||_2 < tol``.

    Parameters
    ----------
    x : tensor (n, d) or (S, n, d)
    y : tensor (m, d) or (S, m, d)
    reg : float > 0, entropic regularisation
    a, b : tensors (n,), (m,) or (S, n), (S, m), optional; uniform weights by default
    cost : callable ``(x, y) -> (S, n, m)`` on batched clouds, optional; default
        :func:`squared_euclidean_cost` ``|x - y|^2``
    scaling : float in (0, 1), optional. Epsilon-scaling: reg starts at the cost range of the
        seed (about its squared diameter for the default cost), shrinks by ``scaling`` per
        iteration to ``reg``, warm-starting the potentials; one schedule for a seed's problems
    method, gradient, max_iter, tol : as in :func:`sinkhorn`, for each of the three problems
    debias : bool, ``False`` returns ``OT_reg(x, y)`` alone
    underflow : as in :func:`sinkhorn`, for ``OT(x, y)`` (the symmetric problems' supports
        always hold the diagonal plan)

    Returns
    -------
    SinkhornDivergenceResult, with ``value`` (S,) or a scalar for unbatched clouds
    """
    x, y, unbatched = check_clouds(x, y)
    check_options(reg, method, gradient, max_iter, tol, scaling, underflow)
    a = _cloud_weights("a", a, x, unbatched)
    b = _cloud_weights("b", b, y, unbatched)
    cost = squared_euclidean_cost if cost is None else cost
    pairs = [(a, b, _cost_matrix(cost, x, y))]
    if debias:
        pairs += [(a, a, _cost_matrix(cost, x, x)), (b, b, _cost_matrix(cost, y, y))]
    start = None
    if scaling is not None:
        start = torch.stack([_cost_range(matrix) for _, _, matrix in pairs]).amax(0)
    options = (float(reg), method, gradient, max_iter, tol, start, scaling)
    results = [solve(*problem, *options, symmetric=i > 0, underflow=underflow)
               for i, problem in enumerate(pairs)]  # fmt: skip
    if debias:
        xy, xx, yy = results
        value = xy.entropic_cost - (xx.entropic_cost + yy.entropic_cost) / 2
    else:
        (xy,), xx, yy = results, None, None
        entropy = (a * a.log()).sum(1) + (b * b.log()).sum(1)
        value = xy.entropic_cost + reg * (1 - entropy)
    converged = torch.stack([result.converged for result in results]).all(0)
    n_iter = torch.stack([result.n_iter for result in results]).amax(0)
    if unbatched:
        xy, xx, yy = (None if r is None else first_problem(r) for r in (xy, xx, yy))
        return SinkhornDivergenceResult(value[0], converged[0], n_iter[0], xy, xx, yy)
    return SinkhornDivergenceResult(value, converged, n_iter, xy, xx, yy)


def _cost_range(cost: torch.Tensor) -> torch.Tensor:
    """``max C - min C`` per problem (S,): where annealing starts (Sinkhorn ignores shifts of C)."""
    cost = cost.detach()
    return cost.amax(dim=(1, 2)) - cost.amin(dim=(1, 2))


def _cloud_weights(name, weights, points, unbatched) -> torch.Tensor:
    """Uniform weights by default; given weights are checked and batched like the points."""
    if weights is None:
        size, count = points.shape[0], points.shape[1]
        return torch.full((size, count), 1.0 / count, dtype=points.dtype, device=points.device)
    if unbatched and isinstance(weights, torch.Tensor) and weights.dim() == 1:
        weights = weights[None]
    if not isinstance(weights, torch.Tensor) or weights.shape != points.shape[:2]:
        shape = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights)
        raise ValueError(f"{name} has shape {shape}; expected {tuple(points.shape[:2])} (S, n)")
    if weights.dtype != points.dtype:
        raise ValueError(f"{name} is {weights.dtype} but the points are {points.dtype}")
    check_weights(name, weights)
    return weights


def _cost_matrix(cost, x, y) -> torch.Tensor:
    matrix = cost(x, y)
    expected = (x.shape[0], x.shape[1], y.shape[1])
    if not isinstance(matrix, torch.Tensor) or tuple(matrix.shape) != expected:
        shape = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix)
        raise ValueError(f"cost(x, y) returned shape {shape}; expected (S, n, m) = {expected}")
    if not all_finite(matrix):
        raise ValueError("cost(x, y) has non-finite entries (inf or NaN); check the points")
    return matrix
