"""Exact Wasserstein distances between point clouds (POT and scipy), never silently wrong.

The exact trace is the squared 2-Wasserstein distance between the particles and the target with the
manifold's ground cost (squared Euclidean, or squared geodesic on the ball), uniform weights, in
float64. With equal sizes and uniform weights an optimal plan is a permutation (Birkhoff), so the
``auto`` solver uses scipy's exact assignment solver for small equal sizes (n <= 100; equal to
``ot.emd2`` to rounding) and ``ot.emd2`` otherwise: the assignment solver's time grows much faster
with n on clouds far apart (the crossover is measured by ``benchmarks/bench_exact.py``).
"""

from __future__ import annotations

import logging
import math
import time
import warnings

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment

log = logging.getLogger("sliceflow")

MAX_ITER_START = 100_000
MAX_ITER_LIMIT = 100_000_000
ASSIGNMENT_MAX_N = 100  # auto: the assignment solver up to this size (benchmarks/bench_exact.py)
SLOW_SECONDS = 1.0  # a batch of solves slower than this reports its progress


class TraceSolverError(RuntimeError):
    """POT could not reach optimality even with the largest iteration budget."""


def _until_optimal(solve, max_iter: int, name: str):
    """``solve(numItermax) -> (result, log)`` retried with 10x the budget until POT says optimal.

    POT returns a wrong result (not a bound) when ``numItermax`` is reached; ``log=True``
    exposes ``result_code``/``warning``.
    """
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # we read the outcome from the log instead
            result, info = solve(max_iter)
        if info.get("warning") is None and info.get("result_code", 1) == 1:
            return result
        if max_iter >= MAX_ITER_LIMIT:
            raise TraceSolverError(f"{name} did not converge with numItermax={max_iter}")
        max_iter *= 10
        log.warning("%s reached numItermax; retrying with numItermax=%d", name, max_iter)


def _uniform(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, m = cost.shape
    return np.full(n, 1.0 / n), np.full(m, 1.0 / m)


def emd2_checked(cost: np.ndarray, max_iter: int = MAX_ITER_START) -> float:
    """``ot.emd2`` with uniform weights, never silently wrong.

    .. math:: W(\\mu, \\nu) = \\min_{P \\in U(a, b)} \\langle P, M \\rangle

    The solve is retried with 10x the budget until POT reports optimality.
    """
    a, b = _uniform(cost)
    solve = lambda k: ot.emd2(a, b, cost, numItermax=k, log=True)  # noqa: E731
    return float(_until_optimal(solve, max_iter, "ot.emd2"))


def emd_checked(cost: np.ndarray, max_iter: int = MAX_ITER_START) -> np.ndarray:
    """An optimal plan (n, m) of ``ot.emd`` with uniform weights, retried like :func:`emd2_checked`.

    .. math:: P^\\star \\in \\arg\\min_{P \\in U(a, b)} \\langle P, M \\rangle
    """
    a, b = _uniform(cost)
    solve = lambda k: ot.emd(a, b, cost, numItermax=k, log=True)  # noqa: E731
    return _until_optimal(solve, max_iter, "ot.emd")


def exact_plan(cost: np.ndarray, solver: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Support of an optimal plan between uniform measures: ``rows, cols, mass`` (k,) each.

    .. math:: \\sum_{t} \\mathrm{mass}_t\\, M_{\\mathrm{rows}_t, \\mathrm{cols}_t} = W(\\mu, \\nu)

    The same solvers as :func:`exact_w2sq`: with ``auto``, scipy's assignment (a permutation,
    mass ``1/n`` each) for equal sizes up to ``ASSIGNMENT_MAX_N``, else the checked ``ot.emd``
    (at most ``n + m - 1`` entries, a vertex of the transport polytope). ``cost`` must be finite.
    """
    if solver == "assignment" or (
        solver == "auto" and cost.shape[0] == cost.shape[1] <= ASSIGNMENT_MAX_N
    ):
        rows, cols = linear_sum_assignment(cost)
        return rows, cols, np.full(rows.shape, 1.0 / cost.shape[0])
    plan = emd_checked(cost)
    rows, cols = np.nonzero(plan)
    return rows, cols, plan[rows, cols]


def exact_w2sq(cost: np.ndarray, solver: str = "auto") -> float:
    """Exact OT cost of a cost matrix (n, m) between uniform measures.

    ``solver``: ``auto`` (assignment for equal sizes up to ``ASSIGNMENT_MAX_N``, else POT),
    ``pot`` (always ``ot.emd2``) or ``assignment`` (scipy, equal sizes only).
    """
    if not np.isfinite(cost).all():
        return math.inf
    if solver == "assignment" or (
        solver == "auto" and cost.shape[0] == cost.shape[1] <= ASSIGNMENT_MAX_N
    ):
        rows, cols = linear_sum_assignment(cost)
        return float(cost[rows, cols].mean())
    return emd2_checked(cost)


def exact_w2sq_batch(
    x: torch.Tensor, y: torch.Tensor, manifold, solver: str = "auto", note=None
) -> np.ndarray:
    """Exact W2^2 per seed: x (S, n, d), y (S, m, d) -> (S,) float64 (inf if x is not finite).

    One cost matrix at a time (memory n * m, not S * n * m). ``note(text)``, if given, hears
    the progress (``"exact W2^2 3/10"``) once the solves have taken more than a second.
    """
    x64, y64 = x.detach().double().cpu(), y.detach().double().cpu()
    start, values = time.perf_counter(), []
    for s in range(x64.shape[0]):
        with torch.no_grad():
            cost = manifold.cost_matrix(x64[s], y64[s]).numpy()  # (n, m)
        values.append(exact_w2sq(cost, solver))
        if note is not None and time.perf_counter() - start > SLOW_SECONDS:
            note(f"exact W2^2 {s + 1}/{x64.shape[0]}")
    return np.array(values)


def exact_assignment(cost: np.ndarray) -> np.ndarray:
    """An optimal permutation of a square cost matrix (n, n) between uniform measures.

    .. math:: \\pi^\\star \\in \\arg\\min_{\\pi \\in \\mathfrak S_n} \\frac1n \\sum_i C_{i\\pi(i)}

    ``ot.emd``'s network simplex ends on a vertex of the transport polytope, which for uniform
    weights and equal sizes is a permutation (Birkhoff); on the plan task's clouds it is faster
    than scipy's assignment solver (``benchmarks/bench_exact.py``). Should its plan not
    be a permutation (a degenerate solve), scipy's exact assignment is used. Returns ``perm`` (n,):
    source i goes to target ``perm[i]``.
    """
    n = cost.shape[0]
    weights = np.full(n, 1.0 / n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan, info = ot.emd(weights, weights, cost, numItermax=MAX_ITER_LIMIT, log=True)
    perm = plan.argmax(axis=1)
    if info.get("result_code", 1) == 1 and np.array_equal(np.sort(perm), np.arange(n)):
        if np.allclose(plan[np.arange(n), perm], 1.0 / n):
            return perm
    return linear_sum_assignment(cost)[1]
