"""Sliced transport on large clouds in bounded memory: directions processed in chunks.

The batched code of :mod:`sliceflow.ot.sliced` projects every cloud on all L directions at once
and keeps the sorted (S, L, n) tensors and their permutations for backward: about 40 bytes per
projected value, 2 GB for one seed at n = 10^6, L = 50. Here each seed is processed alone, a
chunk of ``c`` directions at a time (:func:`sliceflow._kernels.policy.directions_per_chunk`, at
least one direction), and the gradients are accumulated chunk by chunk **during the forward
pass**, so nothing of size L x n outlives a chunk: the working memory stays a few times the
particle array, whatever L (``benchmarks/bench_large.py`` measures it).

Which clouds come here is the size policy's choice (:func:`sliceflow._kernels.policy.is_large`);
smaller clouds keep the batched code, and the two paths agree to rounding (tested).

A float32 row is argsorted by one sort of packed 64-bit keys
(:func:`sliceflow._kernels.sorts.keyed_argsort`): the order is exactly the values' order, ties
broken by index; float64 rows (the Poincaré ball) use ``np.argsort``. With equal sizes the matched
differences are formed in sample order, ``D_x = P x - Q_y[rank]``, so the particles' sorted values
are never needed.

Nothing here sets a thread count. Its operations are short and memory-bound, so the engine runs
these clouds on one torch thread (:func:`sliceflow._kernels.policy.torch_threads`); a caller
outside the engine should do the same for speed (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sliceflow._kernels import rows as _rows
from sliceflow._kernels.policy import directions_per_chunk, rows_per_sort
from sliceflow._kernels.sorts import keyed_argsort
from sliceflow._kernels.sorts import sort as _sort
from sliceflow._kernels.sorts import take as _take

Project = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (1, n, d), (1, c, d) -> (1, c, n)

__all__ = [
    "Project",
    "chunk_terms",
    "linear_projection",
    "projected_w2_and_grads",
    "quantile_levels",
    "sliced_w2_and_grads",
    "sliced_w2_projected_chunked",
    "sliced_wasserstein2_chunked",
]


# -- rows: gather, scatter, buffers ----------------------------------------------------------------
def _put(values: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``out[r, order[r]] = values[r]`` for each row r (the inverse of ``take``)."""
    return torch.empty_like(values).scatter_(-1, order, values)


def _buffer(name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A reused CPU buffer (``_rows.WORKSPACE``), or a fresh tensor on other devices."""
    if like.device.type != "cpu":
        return like.new_empty(shape)
    dtype = torch.empty(0, dtype=like.dtype).numpy().dtype
    return torch.from_numpy(_rows.WORKSPACE.get(name, shape, dtype))


def quantile_levels(size: int, k: int, device) -> torch.Tensor:
    """Indices of the k quantile levels ``(j + 1/2) / k`` in ``size`` sorted values, as
    :func:`sliceflow.ot.sliced.quantiles_1d`."""
    levels = (torch.arange(k, device=device, dtype=torch.float64) + 0.5) / k
    return (levels * size).floor().long().clamp(max=size - 1)


def _sum_squares(values: torch.Tensor) -> float:
    """Sum of squares accumulated in float64 (a float32 sum of 10^6 terms loses digits)."""
    if values.device.type == "cpu":
        return _rows.sum_squares(values.numpy())
    flat = values.reshape(-1).double()
    return float(torch.dot(flat, flat))


def _projector(z: torch.Tensor, chunk: int, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``theta -> theta z^T`` (c, n) for the points z (n, d), into a reused buffer. One direction
    at a time (large n): ``(z theta^T)^T``, whose (n, 1) result is already a row, with no copy of
    z; several: one transposed copy of z, then row-major products."""
    n = z.shape[0]
    if chunk == 1:
        return lambda theta: torch.mm(z, theta.T, out=_buffer(name, (n, 1), z)).T
    z_t = z.T.contiguous()  # (d, n)
    return lambda theta: torch.mm(theta, z_t, out=_buffer(name, (theta.shape[0], n), z))


# -- one chunk of slices ---------------------------------------------------------------------------
def chunk_terms(px: torch.Tensor, py: torch.Tensor, need_x: bool, need_y: bool):
    """Sum over a chunk of slices of the 1D W2^2 terms, and the matched differences.

    .. math:: \\sum_l \\sum_j (q^x_l(j) - q^y_l(j))^2, \\quad D_x[l, i] = \\sum_{j: x_i
              \\text{ at level } j} (q^x_l(j) - q^y_l(j)), \\quad D_y \\text{ likewise for } y

    px (c, n), py (c, m) projected values; ``k = max(n, m)`` quantile levels. Returns (sum of
    squares as a float64 number, D_x (c, n) or None, D_y (c, m) or None), in sample order: the
    gradient of half the sum with respect to px is D_x, with respect to py it is -D_y. Rows are
    sorted in blocks (:func:`sliceflow._kernels.policy.rows_per_sort`), which bounds the sorts'
    temporaries.
    """
    (c, n), m = px.shape, py.shape[1]
    dx = _buffer("dx", (c, n), px) if need_x else None
    dy = _buffer("dy", (c, m), py) if need_y else None
    block = rows_per_sort(n, m)
    total = 0.0
    for r in range(0, c, block):
        rows = slice(r, r + block)
        total += _block_terms(px[rows], py[rows], None if dx is None else dx[rows],
                              None if dy is None else dy[rows])  # fmt: skip
    return total, dx, dy


def _block_terms(px, py, dx, dy) -> float:
    """:func:`chunk_terms` on a block of rows, writing D_x and D_y into ``dx``/``dy`` if given."""
    n, m = px.shape[1], py.shape[1]
    if n == m and px.device.type == "cpu":
        arrays = [None if v is None else v.numpy() for v in (dx, dy)]
        return _rows.equal_block_terms(px.numpy(), py.numpy(), *arrays)
    if n == m:
        if dx is not None and dy is not None:
            order_x, order_y = keyed_argsort(px), keyed_argsort(py)
            torch.sub(px, _put(_take(py, order_y), order_x), out=dx)
            torch.sub(_put(_take(px, order_x), order_y), py, out=dy)
            return _sum_squares(dx)
        if dx is not None:
            torch.sub(px, _put(_sort(py), keyed_argsort(px)), out=dx)
            return _sum_squares(dx)
        if dy is not None:
            torch.sub(_put(_sort(px), keyed_argsort(py)), py, out=dy)
            return _sum_squares(dy)
        return _sum_squares(_sort(px) - _sort(py))
    k = max(n, m)
    index_x, index_y = quantile_levels(n, k, px.device), quantile_levels(m, k, px.device)
    order_x = keyed_argsort(px) if dx is not None else None
    order_y = keyed_argsort(py) if dy is not None else None
    sx = _take(px, order_x) if dx is not None else _sort(px)
    sy = _take(py, order_y) if dy is not None else _sort(py)
    diff = sx[:, index_x] - sy[:, index_y]  # (rows, k)
    if dx is not None:
        dx.zero_().scatter_add_(1, order_x[:, index_x], diff)
    if dy is not None:
        dy.zero_().scatter_add_(1, order_y[:, index_y], diff)
    return _sum_squares(diff)


# -- sliced W2 with linear projections -------------------------------------------------------------
class _ChunkedSlicedW2(torch.autograd.Function):
    """SW_2^2 per seed computed chunk by chunk; gradients formed in forward, scaled in backward."""

    @staticmethod
    def forward(ctx, x, y, theta):
        need = ctx.needs_input_grad
        value, ctx.grads = sliced_w2_and_grads(x.detach(), y.detach(), theta.detach(), need)
        return value

    @staticmethod
    def backward(ctx, grad):
        scale = grad.view(-1, 1, 1)
        return tuple(None if g is None else g * scale.to(g.dtype) for g in ctx.grads)


def sliced_wasserstein2_chunked(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor):
    """Monte-Carlo SW_2^2 per seed in bounded memory, differentiable in x, y and theta.

    .. math:: SW_2^2 = \\frac1L \\sum_l \\frac1k \\sum_j (q^x_l(j) - q^y_l(j))^2

    with ``q_l`` the sorted projections on theta_l at ``k = max(n, m)`` quantile levels (equal
    sizes: the sorted values). x (S, n, d), y (S, m, d), theta (S, L, d) unit rows -> (S,).
    """
    return _ChunkedSlicedW2.apply(x, y, theta)


def sliced_w2_and_grads(x, y, theta, need=(True, False, False)):
    """SW_2^2 (S,) and its gradients (for the inputs flagged in ``need``: x, y, theta).

    With ``D`` the matched differences of :func:`chunk_terms`: grad_x = 2/(kL) D_x^T theta,
    grad_y = -2/(kL) D_y^T theta, grad_theta = 2/(kL) (D_x x - D_y y). Gradients in x and y are
    accumulated transposed, (d, n), one matrix product per chunk.
    """
    need_x, need_y, need_theta = (bool(v) for v in need)
    S, n, d = x.shape
    m, L = y.shape[1], theta.shape[1]
    k, chunk = max(n, m), directions_per_chunk(n, m, L)
    total = torch.zeros(S, dtype=torch.float64)
    grad_x = torch.zeros_like(x) if need_x else None
    grad_y = torch.zeros_like(y) if need_y else None
    grad_theta = torch.zeros_like(theta) if need_theta else None
    for s in range(S):
        project_x = _projector(x[s], chunk, "project_x")
        project_y = _projector(y[s], chunk, "project_y")
        gx_t = x.new_zeros(d, n) if need_x else None
        gy_t = y.new_zeros(d, m) if need_y else None
        for start in range(0, L, chunk):
            th = theta[s, start : start + chunk]  # (c, d)
            squares, dx, dy = chunk_terms(project_x(th), project_y(th), need_x or need_theta,
                                          need_y or need_theta)  # fmt: skip
            total[s] += squares
            if need_x:
                gx_t.addmm_(th.T, dx)
            if need_y:
                gy_t.addmm_(th.T, dy, alpha=-1.0)
            if need_theta:
                grad_theta[s, start : start + chunk] = dx @ x[s] - dy @ y[s]
        if need_x:
            grad_x[s] = gx_t.T
        if need_y:
            grad_y[s] = gy_t.T
    scale = 2.0 / (k * L)
    grads = tuple(None if g is None else g.mul_(scale) for g in (grad_x, grad_y, grad_theta))
    return (total / (k * L)).to(device=x.device, dtype=x.dtype), grads


# -- sliced W2 with any projection (Busemann, geodesic) --------------------------------------------
class _ChunkedProjectedW2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, slices, project):
        if ctx.needs_input_grad[2]:
            raise NotImplementedError("the chunked projected W2 has no gradient in the slices")
        need = ctx.needs_input_grad[:2]
        value, ctx.grads = projected_w2_and_grads(x.detach(), y.detach(), slices, project, need)
        return value

    @staticmethod
    def backward(ctx, grad):
        scale = grad.view(-1, 1, 1)
        grad_x, grad_y = (None if g is None else g * scale.to(g.dtype) for g in ctx.grads)
        return grad_x, grad_y, None, None


def sliced_w2_projected_chunked(x, y, slices: torch.Tensor, project: Project):
    """:func:`sliceflow.ot.sliced.sliced_w2_projected` in bounded memory: chunks of slices, per
    seed, gradients in x and y accumulated during the forward pass. (S,)."""
    return _ChunkedProjectedW2.apply(x, y, slices, project)


def projected_w2_and_grads(x, y, slices, project: Project, need=(True, False)):
    """The value (S,) and gradients (grad_x or None, grad_y or None) of
    :func:`sliced_w2_projected_chunked`: each chunk's 1D gradients (:func:`chunk_terms`) pulled
    back through ``project`` by autograd."""
    S, n, _ = x.shape
    m, L = y.shape[1], slices.shape[1]
    k, chunk = max(n, m), directions_per_chunk(n, m, L)
    total = torch.zeros(S, dtype=torch.float64)
    grads = [torch.zeros_like(z) if w else None for z, w in zip((x, y), need, strict=True)]
    for s in range(S):
        for start in range(0, L, chunk):
            sl = slices[s : s + 1, start : start + chunk]
            with torch.enable_grad():
                clouds = [z[s : s + 1].detach().requires_grad_(bool(w))
                          for z, w in zip((x, y), need, strict=True)]  # fmt: skip
                values = [project(z, sl)[0] for z in clouds]  # (c, n), (c, m)
            squares, dx, dy = chunk_terms(values[0].detach(), values[1].detach(), *need)
            total[s] += squares
            sides = [i for i in (0, 1) if need[i]]
            weights = {0: dx, 1: None if dy is None else -dy}
            if sides:
                found = torch.autograd.grad([values[i] for i in sides],
                                            [clouds[i] for i in sides],
                                            [weights[i] for i in sides])  # fmt: skip
                for i, grad in zip(sides, found, strict=True):
                    grads[i][s] += grad[0]
    scale = 2.0 / (k * L)
    value = (total / (k * L)).to(device=x.device, dtype=x.dtype)
    return value, tuple(None if g is None else g.mul_(scale) for g in grads)


def linear_projection(z: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``theta z^T``: (S, n, d), (S, c, d) -> (S, c, n)."""
    return torch.bmm(theta, z.transpose(1, 2))
