"""Sinkhorn iterations in the log domain on a batch of problems, with per-problem stopping, and
the parts the vanilla loop (``_sinkhorn_vanilla.py``) shares.

Shapes: ``a`` (S, n), ``b`` (S, m), ``cost`` (S, n, m). Potentials ``f`` (S, n), ``g`` (S, m) are in
cost units (``f = reg log u``, ``g = reg log v``), so the plan is ``exp((f_i + g_j - C_ij) / reg)``.

Iteration k (k = 1, 2, ...) from ``g_0 = 0`` (``v = 1``)::

    f_k = reg_k log a - reg_k LSE_j((g_{k-1, j} - C_ij) / reg_k)
    g_k = reg_k log b - reg_k LSE_i((f_{k, i} - C_ij) / reg_k)

A problem whose row-marginal error ``||u * (K v) - a||_2`` (after the v update) falls below ``tol``
is frozen: its iterates stop changing while the rest of the batch runs on, so its result does not
depend on the batch it is in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sliceflow.ot.entropic._sinkhorn_checks import raise_vanilla_failure


def exp_floor(dtype: torch.dtype) -> float:
    """Lower clamp for exponents before ``exp``.

    Below ``log(tiny)`` the result is subnormal and the CPU takes a slow path; clamping there
    changes a sum of m terms whose largest is 1 by less than ``m * tiny^0.9``, far below the
    rounding of the sum.
    """
    return 0.9 * math.log(torch.finfo(dtype).tiny)


def logsumexp_(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``log sum exp`` along ``dim``, overwriting ``values`` (no temporaries of its size)."""
    peak = values.amax(dim, keepdim=True)
    values.sub_(peak).clamp_min_(exp_floor(values.dtype)).exp_()
    return values.sum(dim).log_().add_(peak.squeeze(dim))


def bmv(matrix: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Batched ``matrix @ vector``: (S, n, m), (S, m) -> (S, n)."""
    return torch.bmm(matrix, vector.unsqueeze(-1)).squeeze(-1)


def bvm(vector: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Batched ``vector @ matrix`` (that is ``matrix^T vector``): (S, n), (S, n, m) -> (S, m)."""
    return torch.bmm(vector.unsqueeze(1), matrix).squeeze(1)


class RegSchedule:
    """``reg_k = max(reg, reg_start * scaling^(k-1))`` per problem (constant without scaling)."""

    def __init__(self, target: torch.Tensor, start: torch.Tensor | None, scaling: float | None):
        self.target, self.start, self.scaling = target, start, scaling  # (S,), (S,) or None

    def at(self, k: int) -> torch.Tensor:
        if self.scaling is None or self.start is None:
            return self.target
        return torch.maximum(self.start * self.scaling ** (k - 1), self.target)


@dataclass
class LoopOutput:
    """Final potentials and bookkeeping; ``history`` holds the iterates the reverse sweep needs."""

    f: torch.Tensor  # (S, n)
    g: torch.Tensor  # (S, m)
    n_iter: torch.Tensor  # (S,) int64
    converged: torch.Tensor  # (S,) bool
    error: torch.Tensor  # (S,) row-marginal error of the returned iterates
    history: tuple[torch.Tensor, ...] | None = None


class Stopping:
    """Per-problem stopping: record errors, freeze the problems that meet ``tol``."""

    def __init__(self, like: torch.Tensor, tol: float):
        size, device = like.shape[0], like.device
        self.tol = tol
        self.active = torch.ones(size, dtype=torch.bool, device=device)
        self.converged = torch.zeros(size, dtype=torch.bool, device=device)
        self.n_iter = torch.zeros(size, dtype=torch.int64, device=device)
        self.error = torch.full((size,), math.inf, dtype=like.dtype, device=device)

    def record(self, error: torch.Tensor, settled: torch.Tensor) -> bool:
        """Store the errors of the active problems; True when none is left active."""
        error = error.detach()
        self.error = torch.where(self.active, error, self.error)
        done = self.active & settled & (error < self.tol)
        self.converged = self.converged | done
        self.active = self.active & ~done  # not in place: autograd may hold the old mask
        return not bool(self.active.any())

    def output(self, f, g, history=None) -> LoopOutput:
        return LoopOutput(f, g, self.n_iter, self.converged, self.error, history)


class SoftMin:
    """``LSE`` of ``(potential - C) / reg`` along rows or columns, on two n x m buffers.

    ``-C / reg`` is refilled in place when reg changes (every annealing iteration): fresh n x m
    allocations cost page faults that, at n = 5000, take longer than the arithmetic.
    """

    def __init__(self, cost: torch.Tensor, differentiable: bool):
        self.cost, self.differentiable = cost, differentiable
        self.reg, self.neg_scaled = None, None
        self.buffer = None if differentiable else torch.empty_like(cost)

    def __call__(self, potential: torch.Tensor, reg: torch.Tensor, dim: int) -> torch.Tensor:
        if self.reg is None or not torch.equal(reg, self.reg):
            self.reg = reg
            if self.differentiable:
                self.neg_scaled = -self.cost / reg[:, None, None]
            else:
                self.neg_scaled = scale_cost(self.cost, reg, self.neg_scaled)
        # rows (dim=2) shift by g: (S, 1, m); columns (dim=1) by f: (S, n, 1)
        shifted = (potential / reg[:, None]).unsqueeze(3 - dim)
        if self.differentiable:
            return torch.logsumexp(self.neg_scaled + shifted, dim)
        return logsumexp_(torch.add(self.neg_scaled, shifted, out=self.buffer), dim)


def scale_cost(cost: torch.Tensor, reg: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """``-C / reg`` (S, n, m), written into ``out`` when given."""
    if out is None:
        out = torch.empty_like(cost)
    return torch.div(cost, -reg[:, None, None], out=out)


def row_error(a, f, f_next, reg) -> torch.Tensor:
    """``||P 1 - a||_2`` from two successive f: ``(P 1)_i = a_i exp((f_i - f_next_i) / reg)``."""
    with torch.no_grad():
        return torch.linalg.vector_norm(a * torch.expm1((f - f_next) / reg[:, None]), dim=-1)


def log_loop(
    a,
    b,
    cost,
    schedule: RegSchedule,
    max_iter: int,
    tol: float,
    keep_history: bool,
    differentiable: bool = False,
) -> LoopOutput:
    """Log-domain Sinkhorn; ``history`` = (F (K, S, n), G (K+1, S, m), R (K, S)) if kept."""
    log_a, log_b = a.log(), b.log()
    soft_min = SoftMin(cost, differentiable)
    stop = Stopping(a, tol)
    g = torch.zeros_like(b)
    f = None
    fs, gs, regs = [], [g], []
    for k in range(1, max_iter + 1):
        reg = schedule.at(k)
        f_next = reg[:, None] * (log_a - soft_min(g, reg, dim=2))
        if f is not None:
            settled = regs[-1] == schedule.target  # no convergence test while annealing
            if stop.record(row_error(a, f, f_next, reg), settled):
                break
            f_next = torch.where(stop.active[:, None], f_next, f)
        f = f_next
        g_next = reg[:, None] * (log_b - soft_min(f, reg, dim=1))
        g = torch.where(stop.active[:, None], g_next, g)
        stop.n_iter += stop.active
        if keep_history:
            fs.append(f)
            gs.append(g)
        regs.append(reg)
    else:  # max_iter reached: the error of the last iterates costs one more row pass
        reg = regs[-1]
        f_next = reg[:, None] * (log_a - soft_min(g, reg, dim=2))
        stop.record(row_error(a, f, f_next, reg), reg == schedule.target)
    history = (torch.stack(fs), torch.stack(gs), torch.stack(regs)) if keep_history else None
    return stop.output(f, g, history)


def check_vanilla(values, cost, reg, what: str, iteration: int) -> None:
    """Vanilla must never hand back zeros, infinities or NaN: stop with a clear error."""
    with torch.no_grad():
        ok = (values > 0) & (values < math.inf)
        if iteration == 0:  # the kernel: a row or column entirely zero is fatal
            ok = ok.any(-1).all() & ok.any(-2).all() & (values < math.inf).all()
        if not bool(ok.all()):
            raise_vanilla_failure(what, iteration, float(cost.detach().abs().max()) / reg)
