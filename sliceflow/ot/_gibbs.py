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
        self.kernel = self.log_kernel.exp()  # (n, n), may underflow: the log path tolerates it
        self.log_floor = 0.5 * math.log(torch.finfo(cost.dtype).tiny)

    def _pick(self, transpose: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if transpose:
            return self.kernel.T, self.log_kernel.T
        return self.kernel, self.log_kernel

    def matmul(self, x: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """``K x`` (or ``K^T x``) for each column: (n, ...) -> (n, ...)."""
        kernel = self.kernel.T if transpose else self.kernel
        return (kernel @ x.reshape(x.shape[0], -1)).view(x.shape)

    def logsumexp(self, x: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """``out_i = log sum_j exp(L_ij + x_j)`` for each column: (n, ...) -> (n, ...).

        Differentiable by autograd (the shift is detached: the value does not depend on it).
        """
        kernel, log_kernel = self._pick(transpose)
        x2 = x.reshape(x.shape[0], -1)  # (n, B)
        shift = x2.detach().amax(dim=0)  # (B,)
        sums = kernel @ (x2 - shift).exp()  # (n, B)
        exact = sums.detach().amin(dim=0) < math.exp(self.log_floor)  # (B,)
        if not exact.any():
            return (sums.log() + shift).view(x.shape)
        out = torch.where(exact, 1.0, sums).log() + shift  # log(1) keeps NaN out of the grad
        columns = exact.nonzero().squeeze(1)
        out = out.index_copy(1, columns, _exact_logsumexp(log_kernel, x2[:, columns]))
        return out.view(x.shape)

    def logsumexp_backward(
        self,
        x: torch.Tensor,
        out: torch.Tensor,
        out_grad: torch.Tensor,
        transpose: bool = False,
        x_eval: torch.Tensor | None = None,
        kernel_grad: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pull-back of ``out = logsumexp(x)``: ``x_grad`` and, if asked, ``L_grad`` (n, n).

        .. math:: \\bar x_j = \\sum_i \\bar o_i \\exp(L_{ij} + x_j - o_i), \\quad
                  \\bar L_{ij} = \\sum_{\\text{columns}} \\bar o_i \\exp(L_{ij} + x_j - o_i)

        ``x_eval`` replaces ``x_j`` in the first sum only (the shift still comes from ``x``): with
        ``x = log u`` and ``x_eval = log u - log a`` it returns ``x_grad / a`` without dividing by
        zero where ``a = 0``. ``L_grad`` is w.r.t. ``L`` as used, i.e. ``M^T`` when transposed.
        """
        kernel, log_kernel = self._pick(transpose)
        n = x.shape[0]
        x2, o2, g2 = (t.reshape(n, -1) for t in (x, out, out_grad))  # (n, B)
        e2 = x2 if x_eval is None else x_eval.reshape(n, -1)
        shift = x2.amax(dim=0)  # (B,): the forward's shift
        exact = (o2 - shift).amin(dim=0) < self.log_floor  # (B,): the forward's exact columns
        scaled = g2 * (shift - o2).exp()  # (n, B), at most |o_grad| / sqrt(tiny)
        if exact.any():
            scaled[:, exact] = 0.0
        pulled = kernel.T @ scaled  # (n, B)
        # exp(x_eval - shift) may overflow on empty bins (x_eval = -log K v); their product with
        # an exact 0 is 0
        x_grad = torch.where(pulled == 0, 0.0, (e2 - shift).exp() * pulled)
        l_grad = kernel * (scaled @ (x2 - shift).exp().T) if kernel_grad else None
        for columns in exact.nonzero().squeeze(1).split(_chunk(n)):
            log_weights = log_kernel[:, :, None] - o2[:, None, columns]  # (n, n, c)
            grad = g2[:, None, columns]
            # in log scale, so that a huge weight times a tiny gradient stays finite
            log_grad, sign = grad.abs().log(), grad.sign()
            terms = sign * (log_grad + log_weights + e2[None, :, columns]).exp()
            x_grad[:, columns] = terms.sum(0)
            if kernel_grad:
                l_grad += (sign * (log_grad + log_weights + x2[None, :, columns]).exp()).sum(-1)
        return x_grad.view(x.shape), l_grad


def _chunk(n: int) -> int:
    return max(1, _EXACT_CHUNK_ELEMENTS // (n * n))


def _exact_logsumexp(log_kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log sum_j exp(L_ij + x_jc)`` by columns in chunks: (n, n), (n, B) -> (n, B)."""
    parts = x.split(_chunk(len(x)), dim=1)
    return torch.cat([(log_kernel[:, :, None] + part[None]).logsumexp(dim=1) for part in parts], 1)
