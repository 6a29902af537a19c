"""Sliced Wasserstein maths on batches of seeds: projections, sorts, quantiles, 1D W2.

Shapes: ``x`` (S, n, d) particles, ``y`` (S, m, d) targets, ``theta`` (S, L, d) directions.
Uniform weights; when ``n != m`` the 1D quantile functions are matched on a common grid. Sorts
go through one device switch (:mod:`sliceflow._kernels.sorts`); clouds that the size policy
calls large (:func:`sliceflow.ot.policy.is_large`) take the chunked path of the same maths
(:mod:`sliceflow._kernels.chunked`, bounded memory). Nothing here changes torch's global state.
"""

from __future__ import annotations

import torch

from sliceflow._kernels import sorts as _sorts
from sliceflow._kernels.chunked import (
    Project,
    sliced_w2_projected_chunked,
    sliced_wasserstein2_chunked,
)
from sliceflow._kernels.policy import is_large


class _SortSamples(torch.autograd.Function):
    """Sort along the sample axis; the gradient is scattered back through the permutation."""

    @staticmethod
    def forward(ctx, values):
        ordered, indices = _sorts.sort_indexed(values, dim=1)
        ctx.save_for_backward(indices)
        return ordered

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        return torch.zeros_like(grad).scatter_(1, indices, grad)


def sort_samples(values: torch.Tensor) -> torch.Tensor:
    """Sorted values along the sample axis, differentiable.

    Parameters
    ----------
    values : torch.Tensor
        (S, n, L) projected values.

    Returns
    -------
    torch.Tensor
        (S, n, L), each column sorted increasingly; the gradient of an entry goes to the sample
        it came from.
    """
    if values.requires_grad:
        return _SortSamples.apply(values)
    return _sorts.sort(values, dim=1)


def argsort_rows(values: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Argsort along ``dim``, no gradient. Each row is sorted on its own, so a seed gets the same
    indices (ties included) alone or in a batch.

    Parameters
    ----------
    values : torch.Tensor
        Any shape.
    dim : int
        The axis to sort along.

    Returns
    -------
    torch.Tensor
        int64 indices, the shape of ``values``; ties in NumPy's order on the CPU, in index order
        on other devices.
    """
    return _sorts.argsort(values, dim)


def stable_argsort_rows(values: torch.Tensor) -> torch.Tensor:
    """Stable argsort along the last axis, no gradient: ties in index order, -0.0 tied with 0.0.

    Parameters
    ----------
    values : torch.Tensor
        (..., n).

    Returns
    -------
    torch.Tensor
        int64 (..., n).
    """
    return _sorts.stable_argsort(values)


def sort_rows(values: torch.Tensor) -> torch.Tensor:
    """Sorted values along the last axis, no gradient.

    Parameters
    ----------
    values : torch.Tensor
        (..., n).

    Returns
    -------
    torch.Tensor
        (..., n), each row increasing.
    """
    return _sorts.sort(values)


def project(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Linear projections on the directions.

    .. math:: P_\\theta(x)_{il} = \\langle x_i, \\theta_l \\rangle

    Parameters
    ----------
    x : torch.Tensor
        (S, n, d) points.
    theta : torch.Tensor
        (S, L, d) directions.

    Returns
    -------
    torch.Tensor
        (S, n, L).
    """
    return torch.bmm(x, theta.transpose(1, 2))


def quantiles_1d(values: torch.Tensor, n_out: int) -> torch.Tensor:
    """Sorted values resampled to ``n_out`` quantile levels, differentiable.

    .. math:: F^{-1}\\big((k + 1/2) / n_{out}\\big), \\quad k = 0..n_{out}-1

    With ``n_out`` equal to the number of values this is a plain sort (exact 1D OT).

    Parameters
    ----------
    values : torch.Tensor
        (S, n, L) projected values.
    n_out : int
        Quantile levels.

    Returns
    -------
    torch.Tensor
        (S, n_out, L).
    """
    values = sort_samples(values)
    n = values.shape[1]
    if n == n_out:
        return values
    levels = (torch.arange(n_out, device=values.device, dtype=values.dtype) + 0.5) / n_out
    index = (levels * n).floor().long().clamp(max=n - 1)
    return values[:, index, :]


def sorted_diff(x_proj: torch.Tensor, y_proj: torch.Tensor) -> torch.Tensor:
    """Matched differences of two projected clouds: ``sort(P x) - sort(P y)`` per column.

    Equal sizes: the exact 1D matching. Unequal sizes: both quantile functions on ``max(n, m)``
    levels (:func:`quantiles_1d`), exact when one size divides the other, close otherwise.

    Parameters
    ----------
    x_proj, y_proj : torch.Tensor
        (S, n, L) and (S, m, L).

    Returns
    -------
    torch.Tensor
        (S, max(n, m), L), differentiable in both.
    """
    n, m = x_proj.shape[1], y_proj.shape[1]
    k = max(n, m)
    return quantiles_1d(x_proj, k) - quantiles_1d(y_proj, k)


def sliced_wasserstein2(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Monte-Carlo sliced Wasserstein SW_2^2 with the given directions, per seed.

    .. math:: SW_2^2 = \\frac1L \\sum_l \\frac1k \\sum_i \\big(\\langle x_{\\sigma_l(i)},
              \\theta_l\\rangle - \\langle y_{\\tau_l(i)}, \\theta_l\\rangle\\big)^2

    with ``sigma_l``, ``tau_l`` the monotone matchings of the projections on ``k = max(n, m)``
    quantile levels. With equal sizes the gradient is the closed form of 1D OT (no autograd
    through the sorts). Large clouds (:func:`sliceflow.ot.policy.is_large`) are evaluated in
    chunks of directions, in bounded memory, equal to the batched evaluation up to rounding;
    call it under one torch thread for speed there (``torch.set_num_threads(1)``, as the engine
    does).

    Parameters
    ----------
    x : torch.Tensor
        (S, n, d) particles.
    y : torch.Tensor
        (S, m, d) targets.
    theta : torch.Tensor
        (S, L, d) unit directions.

    Returns
    -------
    torch.Tensor
        (S,), differentiable in x, y and theta.

    References
    ----------
    Bonneel, Rabin, Peyré, Pfister (2015), Sliced and Radon Wasserstein barycenters of measures.
    """
    if is_large(x.shape[1], y.shape[1]):
        return sliced_wasserstein2_chunked(x, y, theta)
    if x.shape[1] == y.shape[1]:
        return _SlicedW2.apply(x, y, theta)
    diff = sorted_diff(project(x, theta), project(y, theta))  # (S, k, L)
    return diff.square().mean(dim=(1, 2))


class _SlicedW2(torch.autograd.Function):
    """SW_2^2 for equal sizes, with the closed-form gradient of the sorted matching.

    With ``D_x[l, i]`` the matched difference of particle i along theta_l (and ``D_y`` for
    targets): grad_x = 2/(nL) D_x^T theta, grad_y = -2/(nL) D_y^T theta,
    grad_theta = 2/(nL) (D_x x - D_y y).
    """

    @staticmethod
    def forward(ctx, x, y, theta):
        with torch.no_grad():
            px = torch.bmm(theta, x.transpose(1, 2))  # (S, L, n)
            py = torch.bmm(theta, y.transpose(1, 2))  # (S, L, n)
            order_x = argsort_rows(px)
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
                order_y = argsort_rows(py)
                sorted_y = py.gather(-1, order_y)
            else:  # a fixed target needs only its sorted values: a plain sort is cheaper
                order_y = None
                sorted_y = _sorts.sort(py)
            diff = px.gather(-1, order_x) - sorted_y  # (S, L, n) in sorted order
        ctx.save_for_backward(x, y, theta, order_x, order_y, diff)
        return diff.square().mean(dim=(1, 2))

    @staticmethod
    def backward(ctx, grad):
        x, y, theta, order_x, order_y, diff = ctx.saved_tensors
        S, L, n = diff.shape
        scaled = diff * (grad.view(S, 1, 1) * (2.0 / (n * L)))
        grad_x = grad_y = grad_theta = None
        d_x = torch.empty_like(scaled).scatter_(-1, order_x, scaled)  # (S, L, n) particle order
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(d_x.transpose(1, 2), theta)  # (S, n, d)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            d_y = torch.empty_like(scaled).scatter_(-1, order_y, scaled)
            if ctx.needs_input_grad[1]:
                grad_y = -torch.bmm(d_y.transpose(1, 2), theta)
            if ctx.needs_input_grad[2]:
                grad_theta = torch.bmm(d_x, x) - torch.bmm(d_y, y)  # (S, L, d)
        return grad_x, grad_y, grad_theta


def quantile_order(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the sorted last axis at ``k`` quantile levels ``(j + 1/2) / k``.

    Parameters
    ----------
    values : torch.Tensor
        (S, L, n) projected values.
    k : int
        Quantile levels; ``k == n`` gives the argsort.

    Returns
    -------
    torch.Tensor
        int64 (S, L, k) on the values' device: the index of the value at each level, as
        :func:`quantiles_1d`.
    """
    order = argsort_rows(values).to(values.device)
    n = values.shape[-1]
    if k == n:
        return order
    levels = (torch.arange(k, device=values.device, dtype=torch.float64) + 0.5) / k
    return order[..., (levels * n).floor().long().clamp(max=n - 1)]


def matched_indices(x_values: torch.Tensor, y_values: torch.Tensor):
    """Monotone 1D plans of every slice as index pairs.

    Parameters
    ----------
    x_values, y_values : torch.Tensor
        (S, K, n) and (S, K, m) projected values of K slices.

    Returns
    -------
    sigma, tau : torch.Tensor
        int64 (S, K, k), ``k = max(n, m)``: ``sigma[:, l, i]`` and ``tau[:, l, i]`` are the x and
        y points matched at quantile i of slice l.
    """
    k = max(x_values.shape[-1], y_values.shape[-1])
    return quantile_order(x_values, k), quantile_order(y_values, k)


def wasserstein2_1d(x_values: torch.Tensor, y_values: torch.Tensor) -> torch.Tensor:
    """Mean over slices of the 1D W2^2 of projected values, differentiable.

    .. math:: \\frac1L \\sum_l \\frac1k \\sum_i \\big(t_l(x)_{\\sigma_l(i)} -
              t_l(y)_{\\tau_l(i)}\\big)^2

    with the matchings of :func:`matched_indices` on ``k = max(n, m)`` quantile levels.

    Parameters
    ----------
    x_values, y_values : torch.Tensor
        (S, L, n) and (S, L, m).

    Returns
    -------
    torch.Tensor
        (S,).
    """
    sigma, tau = matched_indices(x_values, y_values)  # (S, L, k)
    diff = x_values.gather(-1, sigma) - y_values.gather(-1, tau)
    return diff.square().mean(dim=(1, 2))


def sliced_w2_projected(
    x: torch.Tensor,
    y: torch.Tensor,
    slices: torch.Tensor,
    project: Project,
    *,
    bounded_memory: bool | None = None,
) -> torch.Tensor:
    """Sliced W2^2 with any projection: the mean over slices of the 1D W2^2 of the projected
    clouds, per seed.

    .. math:: \\frac1L \\sum_{l=1}^L W_2^2(t_{l\\#}\\mu, t_{l\\#}\\nu), \\quad
              t_l = \\texttt{project}(\\cdot, \\text{slice}_l)

    One entry for every cloud size: small clouds are projected on all slices at once
    (:func:`wasserstein2_1d`); large ones (:func:`sliceflow.ot.policy.is_large`) a chunk of
    slices at a time, per seed, in bounded memory, equal up to rounding; call it under one torch
    thread for speed there (``torch.set_num_threads(1)``, as the engine does).

    Parameters
    ----------
    x : torch.Tensor
        (S, n, d) particles.
    y : torch.Tensor
        (S, m, d) targets.
    slices : torch.Tensor
        (S, L, d) slice parameters (directions, ideal points...).
    project : callable
        ``project(z, slices) -> (S', L', n')``, differentiable in ``z``, for points z (S', n', d)
        and slices (S', L', d): each seed and each slice on its own (the chunked path calls it on
        one seed and a chunk of slices), e.g. Busemann functions or geodesic coordinates.
    bounded_memory : bool, optional
        Force the chunked path (True) or the batched one (False); default: the size policy's
        choice. A caller that must give the same value on every cloud size (a trace) forces it.

    Returns
    -------
    torch.Tensor
        (S,), differentiable in x and y (and in the slices for small clouds only: on large ones
        a gradient in the slices raises NotImplementedError).

    References
    ----------
    Bonet, Chapel, Drumetz, Courty (2023), Hyperbolic sliced-Wasserstein via geodesic and
    horospherical projections.
    """
    if is_large(x.shape[1], y.shape[1]) if bounded_memory is None else bounded_memory:
        return sliced_w2_projected_chunked(x, y, slices, project)
    return wasserstein2_1d(project(x, slices), project(y, slices))
