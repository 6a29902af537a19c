"""Products with the Gibbs kernel ``K = exp(-C / reg)``, in the scaling and the log domain.

Vectors are the columns of ``(n, ...)`` tensors; every product flattens the trailing axes into
one ``(n, B)`` matrix, so one kernel product over all problems and histograms is one GEMM.
"""

from __future__ import annotations

import math

import torch

# Exact log-sum-exp builds an (n, n, columns) tensor; this caps it at 32 MB in float64.
_EXACT_CHUNK_ELEMENTS = 2**22


class GibbsKernel:
    """``K = exp(M)`` with ``M = -C / reg`` (n, n), and its products in both domains.

    ``logsumexp`` evaluates ``out_i = log sum_j exp(L_ij + x_j)`` (``L = M``, or ``M^T`` with
    ``transpose``) as ``m + log(K @ exp(x - m))`` with ``m = max_j x_j`` per column: one GEMM
    instead of an (n, n, B) tensor. The shifted sum is exact to rounding unless its largest term
    underflows; columns whose sum falls below ``sqrt(tiny)`` (only possible when ``C / reg`` is
    huge) are recomputed with an exact log-sum-exp.
    """

    def __init__(self, cost: torch.Tensor, reg: float):
        self.reg = reg
        self.log_kernel = -cost / reg  # (n, n)
        tiny = torch.finfo(cost.dtype).tiny
        # may underflow (the log path tolerates it); subnormal entries, far below the accuracy
        # of the shifted product, become 0: x86 multiplies subnormals ~100x slower
        kernel = self.log_kernel.exp()
        self.kernel = torch.where(kernel < tiny, 0.0, kernel)  # (n, n)
        self.log_floor = 0.5 * math.log(tiny)

    def _pick(self, transpose: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if transpose:
            return self.kernel.T, self.log_kernel.T
        return self.kernel, self.log_kernel

    def matmul(self, x: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """``K x`` (or ``K^T x``) for each column: (n, ...) -> (n, ...)."""
        kernel = self.kernel.T if transpose else self.kernel
        return (kernel @ x.reshape(x.shape[0], -1)).view(x.shape)

    def logsumexp(self, x: torch.Tensor, transpose: bool = False, with_shift: bool = False):
        """``out_i = log sum_j exp(L_ij + x_j)`` for each column: (n, ...) -> (n, ...).

        Differentiable by autograd (the shift is detached: the value does not depend on it).
        With ``with_shift``, also the shift (B,) and the mask of exact columns (B,) that
        :meth:`logsumexp_backward` needs, B = the trailing axes flattened.
        """
        kernel, log_kernel = self._pick(transpose)
        x2 = x.reshape(x.shape[0], -1)  # (n, B)
        shift = x2.detach().amax(dim=0)  # (B,)
        sums = kernel @ (x2 - shift).exp_()  # (n, B)
        exact = sums.detach().amin(dim=0) < math.exp(self.log_floor)  # (B,)
        if not exact.any():
            out = sums.log_() if not sums.requires_grad else sums.log()
            out = (out + shift).view(x.shape)
        else:
            out = torch.where(exact, 1.0, sums).log() + shift  # log(1): no NaN in the grad
            columns = exact.nonzero().squeeze(1)
            out = out.index_copy(1, columns, _exact_logsumexp(log_kernel, x2[:, columns]))
            out = out.view(x.shape)
        return (out, shift, exact) if with_shift else out

    def logsumexp_backward(
        self,
        out: torch.Tensor,
        out_grad: torch.Tensor,
        shift: torch.Tensor,
        exact: torch.Tensor,
        x_eval: torch.Tensor,
        transpose: bool = False,
        guard: bool = False,
        x_for_kernel: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pull-back of ``out = logsumexp(x)`` with the forward's ``shift`` and ``exact`` mask.

        .. math:: \\bar x_j = \\sum_i \\bar o_i \\exp(L_{ij} + x_j - o_i), \\quad
                  \\bar L_{ij} = \\sum_{\\text{columns}} \\bar o_i \\exp(L_{ij} + x_j - o_i)

        ``x_eval`` is the ``x`` of the first sum: the forward's input, or ``log u - log a`` for
        ``x = log u``, which returns ``x_grad / a`` without dividing by zero where ``a = 0``; there
        ``exp(x_eval - shift)`` may overflow, and ``guard`` makes its product with an exact 0 be 0.
        With ``x_for_kernel`` (the forward's input) also returns ``L_grad`` (n, n), w.r.t. ``L`` as
        used, i.e. ``M^T`` when transposed.
        """
        kernel, log_kernel = self._pick(transpose)
        n = out.shape[0]
        o2, g2, e2 = (t.reshape(n, -1) for t in (out, out_grad, x_eval))  # (n, B)
        scaled = (shift - o2).exp_().mul_(g2)  # (n, B), at most |o_grad| / sqrt(tiny)
        any_exact = bool(exact.any())
        if any_exact:
            scaled[:, exact] = 0.0
        pulled = kernel.T @ scaled  # (n, B)
        x_grad = (e2 - shift).exp_().mul_(pulled)
        if guard:
            x_grad = torch.where(pulled == 0, 0.0, x_grad)
        l_grad = None
        if x_for_kernel is not None:
            x2 = x_for_kernel.reshape(n, -1)
            l_grad = kernel * (scaled @ (x2 - shift).exp_().T)
        if any_exact:
            self._exact_backward(log_kernel, o2, g2, e2, exact, x_grad, x_for_kernel, l_grad)
        return x_grad.view(out.shape), l_grad

    def _exact_backward(self, log_kernel, o2, g2, e2, exact, x_grad, x_for_kernel, l_grad):
        """The pull-back on the exact columns, in place, in chunks of (n, n, c)."""
        n = o2.shape[0]
        for columns in exact.nonzero().squeeze(1).split(_chunk(n)):
            log_weights = log_kernel[:, :, None] - o2[:, None, columns]  # (n, n, c)
            grad = g2[:, None, columns]
            # in log scale, so that a huge weight times a tiny gradient stays finite
            log_grad, sign = grad.abs().log(), grad.sign()
            terms = sign * (log_grad + log_weights + e2[None, :, columns]).exp()
            x_grad[:, columns] = terms.sum(0)
            if l_grad is not None:
                x2 = x_for_kernel.reshape(n, -1)[None, :, columns]
                l_grad += (sign * (log_grad + log_weights + x2).exp()).sum(-1)


def _chunk(n: int) -> int:
    return max(1, _EXACT_CHUNK_ELEMENTS // (n * n))


def _exact_logsumexp(log_kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log sum_j exp(L_ij + x_jc)`` by columns in chunks: (n, n), (n, B) -> (n, B)."""
    parts = x.split(_chunk(len(x)), dim=1)
    return torch.cat([(log_kernel[:, :, None] + part[None]).logsumexp(dim=1) for part in parts], 1)
