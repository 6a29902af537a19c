"""Row kernels of the chunked sliced transport on the CPU (NumPy): sorts, argsorts and the
matched differences of blocks of rows, in reused buffers.

A float32 row is argsorted by one sort of 64-bit keys: the float's order-preserving integer image
``b ^ ((b >> 31) & 0x7FFFFFFF)`` (``b`` its bits as int32: negative floats get their magnitude
bits flipped) in the high 32 bits, the index in the low 32 bits, which breaks ties: one
vectorised int64 sort instead of an ``np.argsort``, which is much slower. The order is exactly
the values' order. Float64 rows use ``np.argsort``. Which sort a caller gets is chosen in
:mod:`sliceflow._kernels.sorts`.

Buffers are kept between calls (:class:`Workspace`): a fresh multi-megabyte array costs a page
fault per 4 KB on first touch, comparable with the sorts themselves on clouds of 10^4-10^5
points. Each thread has its own buffers (seeds may be sorted in parallel threads).
"""

from __future__ import annotations

import functools
import threading

import numpy as np


class Workspace:
    """Named NumPy buffers reused between calls, grown when a larger one is asked for; one set
    per thread, so that threads never write into each other's buffers."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        buffers = self._local.__dict__.setdefault("buffers", {})
        dtype = np.dtype(dtype)
        size = int(np.prod(shape))
        buffer = buffers.get((name, dtype.str))
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype=dtype)
            buffers[(name, dtype.str)] = buffer
        return buffer[:size].reshape(shape)


WORKSPACE = Workspace()


@functools.lru_cache(maxsize=4)
def _indices(n: int) -> np.ndarray:
    """0..n-1 as int64, kept between calls (read-only)."""
    indices = np.arange(n, dtype=np.int64)
    indices.flags.writeable = False
    return indices


def argsort_rows(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Argsort of each row of (R, n): int64 (R, n), into ``out`` if given (float32: packed keys).

    For float32 the order is exactly the values' order with ties broken by index (-0.0 sorts
    before 0.0: add 0.0 first to tie them); for other dtypes it is ``np.argsort``'s.
    """
    if values.dtype != np.float32 or values.shape[-1] >= 2**32:
        order = np.argsort(values, axis=-1)
        if out is None:
            return order
        out[...] = order
        return out
    keys = np.empty(values.shape, dtype=np.int64) if out is None else out
    bits = values.view(np.int32)
    high = WORKSPACE.get("high", values.shape, np.int32)
    np.right_shift(bits, 31, out=high)
    high &= 0x7FFFFFFF
    high ^= bits
    keys[...] = high
    keys <<= 32
    keys |= _indices(values.shape[-1])
    keys.sort(axis=-1)
    keys &= 0xFFFFFFFF  # the indices, in place
    return keys


def sort_rows(values: np.ndarray, name: str) -> np.ndarray:
    """Sorted copy of each row, in the workspace buffer ``name``."""
    out = WORKSPACE.get(name, values.shape, values.dtype)
    out[...] = values
    out.sort(axis=-1)
    return out


def take_rows(values: np.ndarray, order: np.ndarray, name: str) -> np.ndarray:
    """``values[r, order[r]]`` for each row, in the workspace buffer ``name``."""
    out = WORKSPACE.get(name, values.shape, values.dtype)
    for r in range(values.shape[0]):
        np.take(values[r], order[r], out=out[r])
    return out


def put_rows(values: np.ndarray, order: np.ndarray, out: np.ndarray) -> None:
    """``out[r, order[r]] = values[r]`` for each row (row by row: faster than
    ``np.put_along_axis``)."""
    for r in range(values.shape[0]):
        out[r][order[r]] = values[r]


def sum_squares(values: np.ndarray) -> float:
    """Sum of squares accumulated in float64, without a float64 copy."""
    flat = values.reshape(-1)
    return float(np.einsum("i,i->", flat, flat, dtype=np.float64))


def equal_block_terms(px: np.ndarray, py: np.ndarray, dx, dy) -> float:
    """Sum of the 1D W2^2 terms of a block of rows with equal sizes, and the matched
    differences written into ``dx`` / ``dy`` (each None or (R, n)):
    ``D_x = P x - (sorted P y)[rank of x]``, ``D_y = (sorted P x)[rank of y] - P y``."""
    if dx is not None and dy is not None:
        order_x = argsort_rows(px, WORKSPACE.get("order_x", px.shape, np.int64))
        order_y = argsort_rows(py, WORKSPACE.get("order_y", py.shape, np.int64))
        put_rows(take_rows(py, order_y, "sorted_y"), order_x, dx)
        put_rows(take_rows(px, order_x, "sorted_x"), order_y, dy)
        np.subtract(px, dx, out=dx)
        np.subtract(dy, py, out=dy)
        return sum_squares(dx)
    if dx is not None:
        put_rows(sort_rows(py, "sorted_y"), argsort_rows(px, _keys(px)), dx)
        np.subtract(px, dx, out=dx)
        return sum_squares(dx)
    if dy is not None:
        put_rows(sort_rows(px, "sorted_x"), argsort_rows(py, _keys(py)), dy)
        np.subtract(dy, py, out=dy)
        return sum_squares(dy)
    diff = sort_rows(px, "sorted_x")
    diff -= sort_rows(py, "sorted_y")
    return sum_squares(diff)


def _keys(values: np.ndarray) -> np.ndarray:
    return WORKSPACE.get("order_x", values.shape, np.int64)
