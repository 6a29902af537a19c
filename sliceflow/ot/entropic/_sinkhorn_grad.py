"""Gradients of Sinkhorn: hand-written reverse sweeps (unrolled) and the envelope theorem.

The unrolled Functions map ``(a, b, cost)`` to the final potentials ``(f, g)`` of the truncated
iteration and store only the iterate vectors (O(K (n + m)) per problem, not K matrices); the
backward pass replays the iterations in reverse, rebuilding each n x m Jacobian from the stored
vectors. Log step k (``r`` = reg_k)::

    f_k = r log a - r LSE_j((g_{k-1} - C) / r)    A_ij = exp((f_ki + g_{k-1,j} - C_ij) / r) / a_i
    g_k = r log b - r LSE_i((f_k - C) / r)        B_ij = exp((f_ki + g_kj - C_ij) / r) / b_j

A is row-stochastic and B column-stochastic, and the partial derivatives are
``df_ki/dC_ij = A_ij``, ``df_ki/dg_{k-1,j} = -A_ij``, ``df_ki/da_i = r / a_i`` and
``dg_kj/dC_ij = B_ij``, ``dg_kj/df_ki = -B_ij``, ``dg_kj/db_j = r / b_j``.
A problem frozen after ``n_iter`` steps is an identity for the later steps.
"""

from __future__ import annotations

import torch

from sliceflow.ot.entropic._sinkhorn_loops import bmv, bvm, exp_floor, log_loop, scale_cost
from sliceflow.ot.entropic._sinkhorn_vanilla import vanilla_loop


def masked(active: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Rows of ``values`` (S, k) of the active problems, zeros for the frozen ones."""
    return torch.where(active[:, None], values, torch.zeros_like(values))


def exp_potentials(neg_scaled, f, g, reg, out) -> torch.Tensor:
    """``exp((f_i + g_j - C_ij) / reg)`` into ``out`` (S, n, m), from ``neg_scaled = -C / reg``."""
    torch.add(neg_scaled, (g / reg[:, None]).unsqueeze(1), out=out)
    out.add_((f / reg[:, None]).unsqueeze(2)).clamp_min_(exp_floor(out.dtype))
    return out.exp_()


def log_reverse_sweep(a, b, cost, history, n_iter, grad_f, grad_g, need_cost: bool):
    """Adjoints of ``a, b, cost`` from those of the final ``f, g`` (log domain)."""
    fs, gs, regs = history  # (K, S, n), (K + 1, S, m), (K, S)
    grad_a, grad_b = torch.zeros_like(a), torch.zeros_like(b)
    grad_cost = torch.zeros_like(cost) if need_cost else None
    f_bar, g_bar = grad_f.clone(), grad_g.clone()
    buffer = torch.empty_like(cost)
    reg_cached, neg_scaled = None, None
    for k in range(fs.shape[0], 0, -1):
        active = k <= n_iter  # (S,)
        f_k, g_k, g_prev, reg = fs[k - 1], gs[k], gs[k - 1], regs[k - 1]
        if reg_cached is None or not torch.equal(reg, reg_cached):
            reg_cached, neg_scaled = reg, scale_cost(cost, reg, neg_scaled)
        # g_k: column-stochastic B = P_k / b_j, P_k = exp((f_k + g_k - C) / r)
        weight = masked(active, g_bar) / b  # (S, m)
        plan = exp_potentials(neg_scaled, f_k, g_k, reg, buffer)
        grad_b += reg[:, None] * weight
        if need_cost:
            grad_cost.addcmul_(plan, weight.unsqueeze(1))
        f_bar = torch.where(active[:, None], f_bar - bmv(plan, weight), f_bar)
        # f_k: row-stochastic A = P'_k / a_i, P'_k = exp((f_k + g_{k-1} - C) / r)
        weight = masked(active, f_bar) / a  # (S, n)
        plan = exp_potentials(neg_scaled, f_k, g_prev, reg, buffer)
        grad_a += reg[:, None] * weight
        if need_cost:
            grad_cost.addcmul_(plan, weight.unsqueeze(2))
        g_bar = torch.where(active[:, None], -bvm(weight, plan), g_bar)
        f_bar = torch.where(active[:, None], torch.zeros_like(f_bar), f_bar)
    return grad_a, grad_b, grad_cost


def vanilla_reverse_sweep(a, b, cost, reg, history, n_iter, grad_f, grad_g, need_cost: bool):
    """Adjoints of ``a, b, cost`` from those of ``f = reg log u``, ``g = reg log v`` (vanilla).

    With ``s = K v_{k-1}``, ``u_k = a / s``, ``t = K^T u_k``, ``v_k = b / t``, the kernel adjoint is
    a sum of outer products ``u_k t_bar^T + s_bar v_{k-1}^T``, formed by one matmul at the end.
    """
    us, vs = history  # (K, S, n), (K + 1, S, m)
    kernel = torch.exp(-cost / reg)
    grad_a, grad_b = torch.zeros_like(a), torch.zeros_like(b)
    u_bar, v_bar = grad_f * reg / us[-1], grad_g * reg / vs[-1]
    lefts, rights = [], []
    for k in range(us.shape[0], 0, -1):
        active = k <= n_iter
        u_k, v_k, v_prev = us[k - 1], vs[k], vs[k - 1]
        v_bar_k = masked(active, v_bar)
        t_bar = -v_bar_k * v_k * v_k / b  # dv/dt = -b / t^2 = -v^2 / b
        grad_b += v_bar_k * v_k / b  # dv/db = 1 / t = v / b
        u_bar = torch.where(active[:, None], u_bar + bmv(kernel, t_bar), u_bar)
        u_bar_k = masked(active, u_bar)
        s_bar = -u_bar_k * u_k * u_k / a
        grad_a += u_bar_k * u_k / a
        v_bar = torch.where(active[:, None], bvm(s_bar, kernel), v_bar)
        u_bar = torch.where(active[:, None], torch.zeros_like(u_bar), u_bar)
        lefts += [u_k, s_bar]
        rights += [t_bar, v_prev]
    grad_cost = None
    if need_cost:
        kernel_bar = torch.bmm(torch.stack(lefts, -1), torch.stack(rights, 1))  # (S, n, m)
        grad_cost = kernel_bar.mul_(kernel).div_(-reg)
    return grad_a, grad_b, grad_cost


class UnrolledLog(torch.autograd.Function):
    """``(a, b, cost) -> (f, g, n_iter, converged, error)`` with the exact unrolled gradient."""

    @staticmethod
    def forward(ctx, a, b, cost, schedule, max_iter, tol):
        out = log_loop(a, b, cost, schedule, max_iter, tol, keep_history=True)
        ctx.save_for_backward(a, b, cost, *out.history, out.n_iter)
        ctx.mark_non_differentiable(out.n_iter, out.converged, out.error)
        return out.f, out.g, out.n_iter, out.converged, out.error

    @staticmethod
    def backward(ctx, grad_f, grad_g, *_):
        a, b, cost, fs, gs, regs, n_iter = ctx.saved_tensors
        grads = log_reverse_sweep(
            a, b, cost, (fs, gs, regs), n_iter, grad_f, grad_g, ctx.needs_input_grad[2]
        )
        return (*grads, None, None, None)


class UnrolledVanilla(torch.autograd.Function):
    """Vanilla twin of :class:`UnrolledLog`; outputs ``f = reg log u`` and ``g = reg log v``."""

    @staticmethod
    def forward(ctx, a, b, cost, reg, max_iter, tol, underflow="raise"):
        out = vanilla_loop(a, b, cost, reg, max_iter, tol, keep_history=True, underflow=underflow)
        ctx.save_for_backward(a, b, cost, *out.history, out.n_iter)
        ctx.reg = reg
        ctx.mark_non_differentiable(out.n_iter, out.converged, out.error)
        return out.f, out.g, out.n_iter, out.converged, out.error

    @staticmethod
    def backward(ctx, grad_f, grad_g, *_):
        a, b, cost, us, vs, n_iter = ctx.saved_tensors
        grads = vanilla_reverse_sweep(
            a, b, cost, ctx.reg, (us, vs), n_iter, grad_f, grad_g, ctx.needs_input_grad[2]
        )
        return (*grads, None, None, None, None)


class EnvelopeObjective(torch.autograd.Function):
    """Attach the envelope (Danskin) gradient to a computed objective value.

    .. math:: \\partial_C E = P, \\quad \\partial_a E = f, \\quad \\partial_b E = g

    (exact at the optimum of the entropic problem; ``a, b`` directions up to a constant).
    """

    @staticmethod
    def forward(ctx, cost, a, b, value, plan, f, g):
        ctx.save_for_backward(plan, f, g)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        plan, f, g = ctx.saved_tensors
        grad_cost = grad[:, None, None] * plan if ctx.needs_input_grad[0] else None
        grad_a = grad[:, None] * f if ctx.needs_input_grad[1] else None
        grad_b = grad[:, None] * g if ctx.needs_input_grad[2] else None
        return grad_cost, grad_a, grad_b, None, None, None, None
