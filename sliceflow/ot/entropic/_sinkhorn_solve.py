"""The Sinkhorn solver behind :func:`sliceflow.ot.entropic.sinkhorn`, on checked batched inputs."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from sliceflow.ot.entropic._sinkhorn_grad import EnvelopeObjective, UnrolledLog, UnrolledVanilla
from sliceflow.ot.entropic._sinkhorn_loops import RegSchedule, exp_floor, log_loop
from sliceflow.ot.entropic._sinkhorn_symmetric import (
    UnrolledSymmetric,
    symmetric_log_loop,
    symmetric_vanilla_loop,
)
from sliceflow.ot.entropic._sinkhorn_vanilla import vanilla_loop


@dataclass(frozen=True)
class SinkhornResult:
    """Outcome of :func:`sinkhorn`; the leading ``S`` axis is absent for unbatched inputs.

    Attributes
    ----------
    entropic_cost : tensor (S,)
        ``<P, C> + reg sum_ij P_ij (log P_ij - 1)``, the objective minimised
    transport_cost : tensor (S,)
        ``<P, C>``, what POT's ``ot.sinkhorn2`` returns
    plan : tensor (S, n, m)
        ``P = exp((f_i + g_j - C_ij) / reg)``; its columns sum to ``b`` exactly (alternating
        iterations end with the v update)
    f, g : tensors (S, n), (S, m)
        dual potentials ``reg log u``, ``reg log v``
    n_iter : int64 tensor (S,)
        iterations used; a problem stops changing once it has converged
    converged : bool tensor (S,)
        whether ``||P 1 - a||_2 < tol`` was reached within ``max_iter``
    marginal_error : tensor (S,)
        ``||P 1 - a||_2`` of the returned plan
    """

    entropic_cost: torch.Tensor
    transport_cost: torch.Tensor
    plan: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor
    marginal_error: torch.Tensor


def first_problem(result: SinkhornResult) -> SinkhornResult:
    """The result of problem 0 without the batch axis (unbatched in, unbatched out)."""
    return SinkhornResult(*(getattr(result, field.name)[0] for field in fields(result)))


def solve(
    a,
    b,
    cost,
    reg,
    method,
    gradient,
    max_iter,
    tol,
    start=None,
    scaling=None,
    symmetric=False,
    underflow="raise",
) -> SinkhornResult:
    """Batched Sinkhorn. ``start`` (S,): annealing start; ``symmetric``: ``OT(a, a)`` (b unused);
    ``underflow``: what vanilla does with an unconverged problem whose kernel underflowed
    (``"raise"`` or ``"flag"``; a symmetric problem's support holds the diagonal plan)."""
    target = torch.full((cost.shape[0],), reg, dtype=cost.dtype, device=cost.device)
    schedule = RegSchedule(target, start, scaling)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (a, b, cost))
    options = (reg, method, schedule, max_iter, tol, symmetric, underflow)
    if needs_grad and gradient == "unrolled":
        return _assemble(cost, reg, *_unrolled(a, b, cost, *options))
    differentiable = needs_grad and gradient == "autograd"
    with torch.set_grad_enabled(differentiable):
        out = _loop(a, b, cost, *options, differentiable)
        result = _assemble(cost, reg, out.f, out.g, out.n_iter, out.converged, out.error)
    if not needs_grad or differentiable:
        return result
    value = EnvelopeObjective.apply(cost, a, b, result.entropic_cost, result.plan, out.f, out.g)
    return SinkhornResult(value, *(getattr(result, field.name) for field in fields(result)[1:]))


def _unrolled(a, b, cost, reg, method, schedule, max_iter, tol, symmetric, underflow):
    if symmetric:
        f, *rest = UnrolledSymmetric.apply(a, cost, method, schedule, reg, max_iter, tol)
        return f, f, *rest
    if method == "log":
        return UnrolledLog.apply(a, b, cost, schedule, max_iter, tol)
    return UnrolledVanilla.apply(a, b, cost, reg, max_iter, tol, underflow)


def _loop(a, b, cost, reg, method, schedule, max_iter, tol, symmetric, underflow, differentiable):
    if symmetric and method == "log":
        return symmetric_log_loop(a, cost, schedule, max_iter, tol, False, differentiable)
    if symmetric:
        return symmetric_vanilla_loop(a, cost, reg, max_iter, tol, False, differentiable)
    if method == "log":
        return log_loop(a, b, cost, schedule, max_iter, tol, False, differentiable)
    return vanilla_loop(a, b, cost, reg, max_iter, tol, False, differentiable, underflow)


def _assemble(cost, reg, f, g, n_iter, converged, error) -> SinkhornResult:
    """Plan and objectives from the final potentials (differentiable when the inputs are)."""
    if any(t.requires_grad for t in (cost, f, g)) and torch.is_grad_enabled():
        exponent = (f.unsqueeze(2) + g.unsqueeze(1) - cost) / reg
        plan = torch.exp(torch.clamp_min(exponent, exp_floor(cost.dtype)))  # (S, n, m)
        transport = (plan * cost).sum(dim=(1, 2))
    else:  # in place: one n x m allocation instead of six
        plan = torch.sub(g.unsqueeze(1), cost).add_(f.unsqueeze(2)).div_(reg)
        plan.clamp_min_(exp_floor(cost.dtype)).exp_()
        transport = torch.bmm(plan.flatten(1).unsqueeze(1), cost.flatten(1).unsqueeze(2))[:, 0, 0]
    # log P = (f + g - C) / reg turns the entropy into <f, P 1> + <g, P^T 1>: no log of zeros
    entropic = (f * plan.sum(2)).sum(1) + (g * plan.sum(1)).sum(1) - reg * plan.sum(dim=(1, 2))
    return SinkhornResult(entropic, transport, plan, f, g, n_iter, converged, error)
