"""Row sorts and argsorts behind one device switch: one function per operation, the
implementation chosen by the tensor's device and dtype, as POT's backends do.

======================  =========================  =====================  =====================
operation               CPU, float32               CPU, other dtypes      other devices
======================  =========================  =====================  =====================
:func:`sort`            ``np.sort``                ``np.sort``            ``torch.sort``
:func:`sort_indexed`    ``np.argsort`` + take      ``np.argsort`` + take  ``torch.sort``
:func:`argsort`         ``np.argsort``             ``np.argsort``         stable ``torch.sort``
:func:`stable_argsort`  packed keys, -0.0 = 0.0    stable ``np.argsort``  stable ``torch.sort``
:func:`keyed_argsort`   packed keys                ``np.argsort``         ``torch.sort``
======================  =========================  =====================  =====================

On the CPU NumPy's vectorised (AVX2 / AVX-512) sorts are much faster than ``torch.sort``, both on
long rows and on the many short rows of the papers' flows (``benchmarks/`` times them). Packed
keys (:func:`sliceflow._kernels.rows.argsort_rows`): one int64 sort of the float32's
order-preserving integer image and its index, the exact order of the values with ties broken by
index, much cheaper than a stable ``np.argsort``. The operations differ only in how ties are
broken, and each caller keeps the one whose ties its results were computed with. Nothing here
records a gradient: inputs are detached.
"""

from __future__ import annotations

import numpy as np
import torch

from sliceflow._kernels import rows as _rows


def _on_numpy(values: torch.Tensor) -> bool:
    return values.device.type == "cpu"


def sort(values: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sorted values along ``dim`` (the last axis sorted in place of a copy; another axis moved
    last and made contiguous first)."""
    values = values.detach()
    if not _on_numpy(values):
        return values.sort(dim=dim).values
    if dim in (-1, values.dim() - 1):
        return torch.from_numpy(np.sort(values.numpy(), axis=-1))
    array = values.movedim(dim, -1).contiguous().numpy()
    return torch.from_numpy(np.sort(array, axis=-1)).movedim(-1, dim)


def sort_indexed(values: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted values along ``dim`` and the permutation that sorts them (ties: NumPy's order on
    the CPU, torch's elsewhere)."""
    values = values.detach()
    if not _on_numpy(values):
        return values.sort(dim=dim)
    array = values.movedim(dim, -1).contiguous().numpy()
    order = np.argsort(array, axis=-1)
    ordered = np.take_along_axis(array, order, axis=-1)
    return torch.from_numpy(ordered).movedim(-1, dim), torch.from_numpy(order).movedim(-1, dim)


def argsort(values: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Argsort along ``dim``; ties in NumPy's order on the CPU, in index order elsewhere. Each
    row is sorted on its own, so a row's indices do not depend on the other rows."""
    values = values.detach()
    if not _on_numpy(values):
        return torch.sort(values, dim=dim, stable=True).indices
    return torch.from_numpy(np.argsort(values.numpy(), axis=dim))


def stable_argsort(values: torch.Tensor) -> torch.Tensor:
    """Stable argsort along the last axis: ties in index order, -0.0 tied with 0.0.

    Float32 on the CPU without NaN: packed keys. NaN present, other dtypes, rows of ``2**31``
    values or more: a stable ``np.argsort``; other devices: a stable ``torch.sort``.
    """
    values = values.detach()
    if not _on_numpy(values):
        return torch.sort(values, dim=-1, stable=True).indices
    array = values.numpy()
    n = array.shape[-1]
    if array.dtype != np.float32 or n >= 2**31 or np.isnan(array).any():
        return torch.from_numpy(np.argsort(array, axis=-1, kind="stable"))
    normalised = array + np.float32(0)  # a contiguous copy; -0.0 -> 0.0, so they tie
    order = _rows.argsort_rows(normalised.reshape(-1, n))
    return torch.from_numpy(order.reshape(array.shape))


def keyed_argsort(values: torch.Tensor) -> torch.Tensor:
    """Argsort of the rows (last axis), on the values' device; the chunked path's sort.

    Float32 on the CPU: packed keys (exact order, ties by index, -0.0 before 0.0); other dtypes
    on the CPU: ``np.argsort``; other devices: ``torch.sort``.
    """
    values = values.detach()
    if not _on_numpy(values):
        return torch.sort(values, dim=-1).indices
    return torch.from_numpy(_rows.argsort_rows(values.contiguous().numpy()))


def take(values: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``values[r, order[r]]`` for each row r of (R, n) (no gradient on the CPU)."""
    if not _on_numpy(values):
        return values.gather(-1, order)
    return torch.from_numpy(np.take_along_axis(values.detach().numpy(), order.numpy(), axis=-1))
