"""Input checks of the Sinkhorn API: each problem a user can cause is one ``ValueError`` line."""

from __future__ import annotations

import math
import numbers

import torch

METHODS = ("log", "vanilla")
GRADIENTS = ("unrolled", "envelope", "autograd")
UNDERFLOW = ("raise", "flag")


class SinkhornUnderflowError(ValueError):
    """Vanilla Sinkhorn failed because ``exp(-cost / reg)`` or an iterate under/overflowed.

    ``str()`` is one line naming the fix (``method="log"``); ``problems`` holds the indices of
    the failed problems of the batch (empty when every problem is concerned).
    """

    def __init__(self, message: str, problems: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


def raise_vanilla_failure(what: str, iteration: int, cost_over_reg: float) -> None:
    where = "before the first iteration" if iteration == 0 else f"at iteration {iteration}"
    raise SinkhornUnderflowError(
        f'method="vanilla" failed: {what} underflowed or overflowed {where} '
        f"(max |cost| / reg = {cost_over_reg:.3g}; exp(-cost/reg) underflows past ~745 in float64, "
        f'~87 in float32); use method="log" or a larger reg'
    )


def raise_underflowed_support(problems: list[int], max_iter: int, cost_over_reg: float) -> None:
    """Vanilla did not converge on ``problems`` whose kernel has entries that underflowed to 0."""
    which = "problem" if len(problems) == 1 else "problems"
    raise SinkhornUnderflowError(
        f'method="vanilla" did not converge in {max_iter} iterations on {which} '
        f"{', '.join(map(str, problems))}, where exp(-cost/reg) underflowed to 0 (max |cost| / "
        f"reg = {cost_over_reg:.3g}): the zeros can leave no plan with marginals a and b; use "
        f'method="log" (scaling=0.5 converges fast) or a larger reg',
        tuple(problems),
    )


def check_options(reg, method, gradient, max_iter, tol, scaling, underflow="raise") -> None:
    if isinstance(reg, torch.Tensor) or not isinstance(reg, numbers.Real):
        raise ValueError(f"reg must be a real number, got {type(reg).__name__}; pass float(reg)")
    if not (math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a positive finite number, got {reg}; pass e.g. blur**2")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient {gradient!r}; choose one of {', '.join(GRADIENTS)}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if underflow not in UNDERFLOW:
        raise ValueError(f"unknown underflow {underflow!r}; choose one of {', '.join(UNDERFLOW)}")
    if scaling is not None:
        if not 0 < scaling < 1:
            raise ValueError(f"scaling must lie strictly between 0 and 1, got {scaling!r}")
        if method != "log":
            raise ValueError('epsilon-scaling (scaling=...) needs method="log"')


def _floating(name: str, tensor) -> None:
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        kind = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"{name} must be a floating-point torch tensor, got {kind}")


def all_finite(tensor: torch.Tensor) -> bool:
    """No inf or NaN: both reach the extremes, so two reductions replace an n x m mask."""
    tensor = tensor.detach()
    return bool(torch.isfinite(tensor.amax()) & torch.isfinite(tensor.amin()))


def check_weights(name: str, weights: torch.Tensor) -> None:
    """Positive entries summing to one (1e-6) on the last axis."""
    with torch.no_grad():
        if not bool(torch.isfinite(weights).all()) or bool((weights <= 0).any()):
            raise ValueError(
                f"{name} has zero, negative or non-finite weights; weights must be positive "
                "(drop zero-weight points)"
            )
        total = weights.sum(-1, dtype=torch.float64)
        worst = float((total - 1).abs().max())
        if worst > 1e-6:
            raise ValueError(
                f"{name} must sum to 1 (off by {worst:.2e}); normalise it: {name} / {name}.sum(-1)"
            )


def check_problem(a, b, cost) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Validate ``a, b, cost``; return them batched (S, n), (S, m), (S, n, m) and ``unbatched``."""
    for name, tensor in (("a", a), ("b", b), ("cost", cost)):
        _floating(name, tensor)
    unbatched = cost.dim() == 2
    if cost.dim() not in (2, 3) or a.dim() != cost.dim() - 1 or b.dim() != cost.dim() - 1:
        raise ValueError(
            f"shapes a {tuple(a.shape)}, b {tuple(b.shape)}, cost {tuple(cost.shape)} do not "
            "match; use a (n,), b (m,), cost (n, m) or a (S, n), b (S, m), cost (S, n, m)"
        )
    if unbatched:
        a, b, cost = a[None], b[None], cost[None]
    if cost.shape != (a.shape[0], a.shape[1], b.shape[1]) or b.shape[0] != a.shape[0]:
        raise ValueError(
            f"cost has shape {tuple(cost.shape)} but a is {tuple(a.shape)} and b "
            f"{tuple(b.shape)}; cost must be (S, n, m) = "
            f"({a.shape[0]}, {a.shape[1]}, {b.shape[1]})"
        )
    if not (a.dtype == b.dtype == cost.dtype):
        raise ValueError(
            f"a, b and cost must share one dtype (got {a.dtype}, {b.dtype}, {cost.dtype}); "
            "convert with .to(cost.dtype)"
        )
    check_weights("a", a)
    check_weights("b", b)
    if not all_finite(cost):
        raise ValueError("cost has non-finite entries (inf or NaN); fix or mask those points")
    return a, b, cost, unbatched


def check_clouds(x, y) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate point clouds; return them batched (S, n, d), (S, m, d) and ``unbatched``."""
    _floating("x", x)
    _floating("y", y)
    if x.dim() not in (2, 3) or y.dim() != x.dim():
        raise ValueError(
            f"x {tuple(x.shape)} and y {tuple(y.shape)} must both be (n, d), (m, d) or both "
            "(S, n, d), (S, m, d)"
        )
    unbatched = x.dim() == 2
    if unbatched:
        x, y = x[None], y[None]
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2] or x.dtype != y.dtype:
        raise ValueError(
            f"x {tuple(x.shape)} {x.dtype} and y {tuple(y.shape)} {y.dtype} must share the "
            "batch size S, the dimension d and the dtype"
        )
    for name, points in (("x", x), ("y", y)):
        if not all_finite(points):
            raise ValueError(f"{name} has non-finite coordinates (inf or NaN)")
    return x, y, unbatched
