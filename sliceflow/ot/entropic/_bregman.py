"""Iterative Bregman projections for fixed-support barycentres, and their reverse sweep.

Layout: histograms ``a`` (n, S_a, K) with S_a in {1, S}, weights (S_w, K) with S_w in {1, S}; the
state of all S problems is (n, S, K), so a kernel product is one GEMM over S * K columns.
Iteration t = 1, 2, ... (from V^0 = 1):

    KV^t = K V^{t-1},  U^t = a / KV^t,  KTU^t = K^T U^t,
    beta^t = sum_k w_k log KTU^t_k  (log b^t),  V^t_k = exp(beta^t) / KTU^t_k.

The log domain carries h = log KV, f = log U, e = log KTU, beta, g = log V. The check
``||U^t * K V^t - a||_2 < tol`` runs at the start of iteration t + 1, reusing its product K V^t;
it ends problem s at T_s = t and freezes its state, so batching never changes a problem's result.
Per iteration the scaling form stores (KV, KTU), the log domain (h, e) and the shifts and
exact-column masks of its two log-sum-exp products: vectors, never (n, n).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from sliceflow.ot.entropic._gibbs import GibbsKernel


class _Scaling:
    """Scaling form: state V, ``left = K V``, ``scaled = U``, ``right = K^T U``."""

    name = "parallel"

    def __init__(self, kernel: GibbsKernel, a: torch.Tensor):
        self.kernel, self.a = kernel, a

    def initial(self, shape):
        return self.a.new_ones(shape)

    def left(self, v):
        return self.kernel.matmul(v)

    def scale(self, left):
        return self.a / left

    def right(self, u):
        return self.kernel.matmul(u, transpose=True)

    def log_right(self, right):
        return right.log()

    def update(self, log_b, right):
        return log_b.unsqueeze(-1).exp() / right

    def residual(self, u, left):
        return u * left - self.a

    def record(self, left, right) -> tuple[torch.Tensor, ...]:
        """What the reverse sweep needs from one iteration."""
        return left, right


class _Log(_Scaling):
    """Log domain: state g = log V, ``left = h``, ``scaled = f = log a - h``, ``right = e``."""

    name = "log"

    def __init__(self, kernel: GibbsKernel, a: torch.Tensor):
        super().__init__(kernel, a)
        self.log_a = a.log()  # -inf on empty bins: exp(-inf) = 0 keeps them empty

    def initial(self, shape):
        return self.a.new_zeros(shape)

    def left(self, g):
        h, *self._left_shift = self.kernel.logsumexp(g, with_shift=True)
        return h

    def scale(self, left):
        return self.log_a - left

    def right(self, f):
        e, *self._right_shift = self.kernel.logsumexp(f, transpose=True, with_shift=True)
        return e

    def log_right(self, right):
        return right

    def update(self, log_b, right):
        return log_b.unsqueeze(-1) - right

    def residual(self, f, left):
        return (f + left).exp() - self.a

    def record(self, left, right):
        """(h, e) and the shifts and exact-column masks of both products."""
        return left, right, *self._left_shift, *self._right_shift


DOMAINS = {"parallel": _Scaling, "log": _Log}


class Trace(NamedTuple):
    log_b: torch.Tensor  # (n, S) unnormalised log barycentre at each problem's last iteration
    n_iter: torch.Tensor  # (S,) iterations run per problem
    error: torch.Tensor | None  # (S,) marginal error ||U * K V - a||_2 at the end, if measured
    history: list[tuple[torch.Tensor, ...]]  # domain.record(left, right) per iteration, if kept


def iterate(domain, weights, batch, max_iter, tol, keep=False, want_error=False) -> Trace:
    """Run the projections: ``tol=None`` means exactly ``max_iter`` iterations, no checks."""
    n, _, n_hist = domain.a.shape
    state = domain.initial((n, batch, n_hist))
    n_iter = torch.full((batch,), max_iter, dtype=torch.long)
    active = torch.ones(batch, dtype=torch.bool)
    scaled = log_b = error = None
    history, finished = [], False
    for t in range(max_iter):
        left = domain.left(state)
        if tol is not None and t > 0:
            current = _norm(domain.residual(scaled, left)).detach()
            error = current if error is None else torch.where(active, current, error)
            done = active & (current < tol)
            n_iter[done] = t
            active = active & ~done
            finished = not active.any() or not current.isfinite().all()
            if finished:
                break
        new_scaled = domain.scale(left)
        right = domain.right(new_scaled)
        new_log_b = (domain.log_right(right) * weights).sum(-1)  # (n, S)
        new_state = domain.update(new_log_b, right)
        if keep:
            history.append(domain.record(left, right))
        if t == 0 or active.all():
            scaled, log_b, state = new_scaled, new_log_b, new_state
        else:  # converged problems keep their state
            mask = active[:, None]
            scaled = torch.where(mask, new_scaled, scaled)
            log_b = torch.where(mask.T, new_log_b, log_b)
            state = torch.where(mask, new_state, state)
    if not (state.detach().isfinite().all() and log_b.detach().isfinite().all()):
        hint = "use method='log' or a larger reg" if domain.name == "parallel" else "check scales"
        raise ValueError(
            f"barycenter iterations are not finite with method={domain.name!r} and "
            f"reg={domain.kernel.reg:g}: exp(-cost / reg) underflows or overflows; {hint}"
        )
    if not finished and (tol is not None or want_error):
        current = _norm(domain.residual(scaled, domain.left(state))).detach()
        error = current if error is None else torch.where(active, current, error)
    return Trace(log_b, n_iter, error, history)


def _norm(residual: torch.Tensor) -> torch.Tensor:
    """Frobenius norm per problem: (n, S, K) -> (S,)."""
    return residual.square().sum(dim=(0, 2)).sqrt()


def _scaling_sweep(kernel, a, weights, history, log_b_grad, n_iter, cost_grad):
    """Reverse sweep of the scaling form: gradients w.r.t. a, weights and K."""
    g_grad = torch.zeros_like(history[0][0])  # adjoint of log V, i.e. V_grad * V
    a_grad, w_grad = torch.zeros_like(g_grad), 0.0
    k_grad = torch.zeros_like(kernel.kernel) if cost_grad else None
    for t in reversed(range(len(history))):
        kv, ktu = history[t]
        u, log_ktu = a / kv, ktu.log()
        beta_grad = g_grad.sum(-1) + torch.where(n_iter == t + 1, log_b_grad, 0.0)  # (n, S)
        w_grad = w_grad + (beta_grad.unsqueeze(-1) * log_ktu).sum(0)
        ktu_grad = (weights * beta_grad.unsqueeze(-1) - g_grad) / ktu
        u_grad = kernel.matmul(ktu_grad)
        a_grad += u_grad / kv
        kv_grad = -u_grad * u / kv
        if t == 0 and not cost_grad:
            break
        if t > 0:
            prev_ktu = history[t - 1][1]
            log_b = (prev_ktu.log() * weights).sum(-1, keepdim=True)
            v_prev = log_b.exp() / prev_ktu
        else:
            v_prev = torch.ones_like(kv)
        g_grad = kernel.matmul(kv_grad, transpose=True) * v_prev
        if cost_grad:
            k_grad += _outer(u, ktu_grad) + _outer(kv_grad, v_prev)
    m_grad = k_grad * kernel.kernel if cost_grad else None  # K = exp(M)
    return a_grad, w_grad, m_grad


def _log_sweep(kernel, a, weights, history, log_b_grad, n_iter, cost_grad):
    """Reverse sweep of the log domain: gradients w.r.t. a, weights and M = -C / reg."""
    log_a, empty = a.log(), bool((a == 0).any())
    g_grad = torch.zeros_like(history[0][0])
    a_grad, w_grad = torch.zeros_like(g_grad), 0.0
    m_grad = torch.zeros_like(kernel.log_kernel) if cost_grad else None
    for t in reversed(range(len(history))):
        h, e, shift_h, exact_h, shift_e, exact_e = history[t]
        beta_grad = g_grad.sum(-1) + torch.where(n_iter == t + 1, log_b_grad, 0.0)  # (n, S)
        w_grad = w_grad + (beta_grad.unsqueeze(-1) * e).sum(0)
        e_grad = weights * beta_grad.unsqueeze(-1) - g_grad
        # x_eval = f - log a = -h yields f_grad / a, finite on empty bins too
        f = log_a - h if cost_grad else None
        a_step, mt_grad = kernel.logsumexp_backward(
            e, e_grad, shift_e, exact_e, -h, transpose=True, guard=empty, x_for_kernel=f
        )
        a_grad += a_step
        if cost_grad:
            m_grad += mt_grad.T
        if t == 0 and not cost_grad:
            break
        if t > 0:
            prev_e = history[t - 1][1]
            g_prev = (prev_e * weights).sum(-1, keepdim=True) - prev_e
        else:
            g_prev = torch.zeros_like(h)
        f_grad = a_step * a
        if empty:  # f = -inf on empty bins: nothing to pull back
            f_grad = torch.where(a > 0, f_grad, 0.0)
        g_grad, mm_grad = kernel.logsumexp_backward(
            h, f_grad.neg_(), shift_h, exact_h, g_prev, x_for_kernel=g_prev if cost_grad else None
        )
        if cost_grad:
            m_grad += mm_grad
    return a_grad, w_grad, m_grad


def _outer(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``sum_columns left_i right_j``: (n, ...), (n, ...) -> (n, n)."""
    n = left.shape[0]
    return left.reshape(n, -1) @ right.reshape(n, -1).T


_SWEEPS = {"parallel": _scaling_sweep, "log": _log_sweep}


class UnrolledBarycenter(torch.autograd.Function):
    """Barycentre whose backward is the hand-written reverse sweep over the stored iterates.

    forward(a (n, S_a, K), cost (n, n), weights (S_w, K), reg, method, max_iter, tol, want_error)
    -> (b (n, S), n_iter (S,), error (S,) or None); only b is differentiable.
    """

    @staticmethod
    def forward(ctx, a, cost, weights, reg, method, max_iter, tol, want_error):
        kernel = GibbsKernel(cost, reg)
        batch = max(a.shape[1], weights.shape[0])
        trace = iterate(DOMAINS[method](kernel, a), weights, batch, max_iter, tol, True, want_error)
        b = trace.log_b.softmax(dim=0)
        stored = [x for record in trace.history for x in record]
        ctx.save_for_backward(a, weights, b, trace.n_iter, *stored)
        ctx.arity = len(trace.history[0])
        ctx.kernel, ctx.reg, ctx.method = kernel, reg, method
        ctx.mark_non_differentiable(*(x for x in (trace.n_iter, trace.error) if x is not None))
        return b, trace.n_iter, trace.error

    @staticmethod
    def backward(ctx, b_grad, _n_iter_grad, _error_grad):
        a, weights, b, n_iter, *stored = ctx.saved_tensors
        history = [tuple(stored[i : i + ctx.arity]) for i in range(0, len(stored), ctx.arity)]
        log_b_grad = b * (b_grad - (b_grad * b).sum(0))  # through the softmax normalisation
        sweep = _SWEEPS[ctx.method]
        a_grad, w_grad, m_grad = sweep(
            ctx.kernel, a, weights, history, log_b_grad, n_iter, ctx.needs_input_grad[1]
        )
        a_grad = a_grad.sum(1, keepdim=True) if a.shape[1] == 1 else a_grad
        w_grad = w_grad.sum(0, keepdim=True) if weights.shape[0] == 1 else w_grad
        cost_grad = -m_grad / ctx.reg if m_grad is not None else None
        return a_grad, cost_grad, w_grad, None, None, None, None, None
