"""Symmetric Sinkhorn for ``OT(a, a)`` (the debiasing terms), with its unrolled gradient.

Alternating updates converge very slowly on a self-transport problem: the plan is close to the
identity, so the iteration map ``A A'`` has eigenvalues close to 1 (thousands of iterations at
small reg). The averaged update of Feydy et al. (2019), with ``T(f)_i = r log a_i -
r LSE_j((f_j - C_ij) / r)`` (``A_ij = exp((T_i + f_j - C_ij) / r) / a_i``),

    f_k = (f_{k-1} + T(f_{k-1})) / 2        (vanilla: u_k = sqrt(u_{k-1} a / (K u_{k-1})))

has the Jacobian ``(I - A) / 2``, a contraction by 1/2 or better when the kernel is positive
definite. Stopping: ``||u * (K u) - a||_2 < tol``. The potential is ``f = g``.
"""

from __future__ import annotations

import torch

from sliceflow.ot.entropic._sinkhorn_grad import exp_potentials, masked
from sliceflow.ot.entropic._sinkhorn_loops import (
    RegSchedule,
    SoftMin,
    Stopping,
    bmv,
    bvm,
    check_vanilla,
    row_error,
    scale_cost,
)


def symmetric_log_loop(
    a, cost, schedule: RegSchedule, max_iter, tol, keep_history, differentiable=False
):
    """Averaged log-domain iteration; ``history`` = (F (K + 1, S, n), R (K, S)) if kept."""
    log_a = a.log()
    soft_min = SoftMin(cost, differentiable)
    stop = Stopping(a, tol)
    f = torch.zeros_like(a)
    fs, regs = [f], []
    for k in range(1, max_iter + 1):
        reg = schedule.at(k)
        image = reg[:, None] * (log_a - soft_min(f, reg, dim=2))  # T(f_{k-1})
        if k > 1 and stop.record(row_error(a, f, image, reg), regs[-1] == schedule.target):
            break
        f = torch.where(stop.active[:, None], (f + image) / 2, f)
        stop.n_iter += stop.active
        if keep_history:
            fs.append(f)
        regs.append(reg)
    else:
        reg = regs[-1]
        image = reg[:, None] * (log_a - soft_min(f, reg, dim=2))
        stop.record(row_error(a, f, image, reg), reg == schedule.target)
    history = (torch.stack(fs), torch.stack(regs)) if keep_history else None
    return stop.output(f, f, history)


def symmetric_vanilla_loop(a, cost, reg: float, max_iter, tol, keep_history, differentiable=False):
    """Averaged vanilla iteration (geometric mean of ``u`` and ``a / (K u)``)."""
    kernel = torch.exp(-cost / reg)
    check_vanilla(kernel, cost, reg, "the kernel exp(-cost/reg)", 0)
    stop = Stopping(a, tol)
    u = torch.ones_like(a)
    us = [u]
    settled = torch.ones_like(stop.active)
    for k in range(1, max_iter + 1):
        ku = bmv(kernel, u)
        if k > 1 and stop.record(torch.linalg.vector_norm(u * ku - a, dim=-1), settled):
            break
        u_next = torch.sqrt(u * a / ku)
        check_vanilla(u_next, cost, reg, "u = sqrt(u a / (K u))", k)
        u = torch.where(stop.active[:, None], u_next, u)
        stop.n_iter += stop.active
        if keep_history:
            us.append(u)
    else:
        stop.record(torch.linalg.vector_norm(u * bmv(kernel, u) - a, dim=-1), settled)
    f = reg * u.log()
    return stop.output(f, f, (torch.stack(us),) if keep_history else None)


def symmetric_log_reverse_sweep(a, cost, history, n_iter, grad_f, need_cost):
    fs, regs = history  # (K + 1, S, n), (K, S)
    grad_a = torch.zeros_like(a)
    grad_cost = torch.zeros_like(cost) if need_cost else None
    f_bar = grad_f.clone()
    buffer = torch.empty_like(cost)
    reg_cached, neg_scaled = None, None
    for k in range(regs.shape[0], 0, -1):
        active, reg = k <= n_iter, regs[k - 1]
        if reg_cached is None or not torch.equal(reg, reg_cached):
            reg_cached, neg_scaled = reg, scale_cost(cost, reg, neg_scaled)
        f_prev = fs[k - 1]
        image = 2 * fs[k] - f_prev  # T(f_{k-1}), recovered from f_k = (f_{k-1} + T) / 2
        image_bar = masked(active, f_bar) / 2
        weight = image_bar / a
        plan = exp_potentials(neg_scaled, image, f_prev, reg, buffer)  # a_i A_ij
        grad_a += reg[:, None] * weight
        if need_cost:
            grad_cost.addcmul_(plan, weight.unsqueeze(2))
        f_bar = torch.where(active[:, None], image_bar - bvm(weight, plan), f_bar)
    return grad_a, grad_cost


def symmetric_vanilla_reverse_sweep(a, cost, reg, history, n_iter, grad_f, need_cost):
    """With ``s = K u_{k-1}``, ``w = u_{k-1} a / s = u_k^2``: adjoints through sqrt, product, K."""
    (us,) = history  # (K + 1, S, n)
    kernel = torch.exp(-cost / reg)
    grad_a = torch.zeros_like(a)
    u_bar = grad_f * reg / us[-1]
    lefts, rights = [], []
    for k in range(us.shape[0] - 1, 0, -1):
        active = k <= n_iter
        u_k, u_prev = us[k], us[k - 1]
        w_bar = masked(active, u_bar) / (2 * u_k)
        square = u_k * u_k  # w
        grad_a += w_bar * square / a
        s_bar = -w_bar * square * square / (a * u_prev)  # -w_bar w / s with s = a u_prev / w
        lefts.append(s_bar)
        rights.append(u_prev)
        previous = w_bar * square / u_prev + bvm(s_bar, kernel)
        u_bar = torch.where(active[:, None], previous, u_bar)
    grad_cost = None
    if need_cost:
        kernel_bar = torch.bmm(torch.stack(lefts, -1), torch.stack(rights, 1))
        grad_cost = kernel_bar.mul_(kernel).div_(-reg)
    return grad_a, grad_cost


class UnrolledSymmetric(torch.autograd.Function):
    """``(a, cost) -> (f, n_iter, converged, error)`` for ``OT(a, a)``, unrolled gradient."""

    @staticmethod
    def forward(ctx, a, cost, method, schedule, reg, max_iter, tol):
        if method == "log":
            out = symmetric_log_loop(a, cost, schedule, max_iter, tol, keep_history=True)
        else:
            out = symmetric_vanilla_loop(a, cost, reg, max_iter, tol, keep_history=True)
        ctx.save_for_backward(a, cost, *out.history, out.n_iter)
        ctx.method, ctx.reg = method, reg
        ctx.mark_non_differentiable(out.n_iter, out.converged, out.error)
        return out.f, out.n_iter, out.converged, out.error

    @staticmethod
    def backward(ctx, grad_f, *_):
        a, cost, *history, n_iter = ctx.saved_tensors
        need_cost = ctx.needs_input_grad[1]
        if ctx.method == "log":
            grads = symmetric_log_reverse_sweep(a, cost, history, n_iter, grad_f, need_cost)
        else:
            grads = symmetric_vanilla_reverse_sweep(
                a, cost, ctx.reg, history, n_iter, grad_f, need_cost
            )
        return (*grads, None, None, None, None, None)
