"""Vanilla Sinkhorn iterations on a batch of problems, and what they do when K underflows.

``K = exp(-C / reg)`` underflows to 0 where ``C / reg`` passes ~745 (float64; ~87 in float32).
Three failures follow, each a ``SinkhornUnderflowError`` naming ``method="log"`` (the log domain
represents those entries): a row or column of K entirely zero, an iterate ``u`` or ``v`` that
under/overflows, and a problem that ends unconverged with zeros in K, whose support may hold no
plan with marginals a and b (``a = [.5, .5]``, ``b = [.3, .7]``, ``C = [[0, 1000], [1000, 1]]``,
reg 1: the iterates drift geometrically, never converging). With ``underflow="flag"`` none of
them raises: the failed problem keeps its last finite iterates and comes back unconverged, for
the caller to count, while the rest of the batch runs on (a particle flow counts it per seed).
"""

from __future__ import annotations

import math

import torch

from sliceflow.ot.entropic._sinkhorn_checks import raise_underflowed_support
from sliceflow.ot.entropic._sinkhorn_loops import LoopOutput, Stopping, bmv, bvm, check_vanilla


def vanilla_loop(
    a,
    b,
    cost,
    reg: float,
    max_iter: int,
    tol: float,
    keep_history: bool,
    differentiable: bool = False,
    underflow: str = "raise",
) -> LoopOutput:
    """Vanilla Sinkhorn ``u = a / (K v)``, ``v = b / (K^T u)``; ``history`` = (U, V) if kept.

    ``underflow="raise"``: a failure of K or of an iterate, or an unconverged problem with
    zeros in K, raises ``SinkhornUnderflowError``; ``"flag"``: that problem stops (unconverged)
    at its last finite iterates (``u = a``, ``v = 1`` when K itself is unusable).
    """
    kernel = torch.exp(-cost / reg)
    flag = underflow == "flag"
    stop = Stopping(a, tol)
    if flag:
        stop.active = usable_kernel(kernel)
    else:
        check_vanilla(kernel, cost, reg, "the kernel exp(-cost/reg)", 0)
    v = torch.ones_like(b)
    u = None
    us, vs = [], [v]
    settled = torch.ones_like(stop.active)
    for k in range(1, max_iter + 1):
        kv = bmv(kernel, v)  # (S, n)
        if u is not None:
            if stop.record(torch.linalg.vector_norm(u * kv - a, dim=-1), settled):
                break
        u_next = a / kv
        if flag:
            stop.active = stop.active & usable(u_next)
        else:
            check_vanilla(u_next, cost, reg, "u = a / (K v)", k)
        if u is None:
            u = torch.where(stop.active[:, None], u_next, a) if flag else u_next
        else:
            u = torch.where(stop.active[:, None], u_next, u)
        v_next = b / bvm(u, kernel)
        if flag:
            stop.active = stop.active & usable(v_next)
        else:
            check_vanilla(v_next, cost, reg, "v = b / (K^T u)", k)
        v = torch.where(stop.active[:, None], v_next, v)
        stop.n_iter += stop.active
        if keep_history:
            us.append(u)
            vs.append(v)
        if flag and not bool(stop.active.any()):
            break
    else:
        stop.record(torch.linalg.vector_norm(u * bmv(kernel, v) - a, dim=-1), settled)
    if not flag and not bool(stop.converged.all()):
        check_support(kernel, stop.converged, cost, reg, max_iter)
    history = (torch.stack(us), torch.stack(vs)) if keep_history else None
    return stop.output(reg * u.log(), reg * v.log(), history)


def usable(values: torch.Tensor) -> torch.Tensor:
    """Problems (S,) whose iterate (S, n) is positive and finite everywhere."""
    with torch.no_grad():
        return ((values > 0) & (values < math.inf)).all(-1)


def usable_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """Problems (S,) whose kernel (S, n, m) is finite with no row or column entirely zero."""
    with torch.no_grad():
        positive = kernel > 0
        finite = (kernel < math.inf).flatten(1).all(1)
        return positive.any(-1).all(-1) & positive.any(-2).all(-1) & finite


def check_support(kernel, converged, cost, reg, max_iter: int) -> None:
    """Unconverged problems whose kernel has entries that underflowed to 0: a clear error."""
    with torch.no_grad():
        failed = (kernel == 0).flatten(1).any(1) & ~converged  # (S,)
        if bool(failed.any()):
            problems = failed.nonzero().flatten().tolist()
            raise_underflowed_support(problems, max_iter, float(cost.detach().abs().max()) / reg)
