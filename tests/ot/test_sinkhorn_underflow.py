"""Vanilla Sinkhorn on a kernel that underflows to a support without a plan: an error naming the
log domain (``SinkhornUnderflowError``), or, with ``underflow="flag"``, an unconverged problem
that the caller counts while the rest of the batch is untouched."""

from __future__ import annotations

import pytest
import torch

from sliceflow.ot.entropic import SinkhornUnderflowError, sinkhorn, sinkhorn_divergence

F64 = torch.float64


def infeasible():
    """exp(-1000) = 0: the support left is the diagonal, which cannot carry a = [.5, .5] to
    b = [.3, .7]; the log domain still has the 0.2 of mass at cost 1000."""
    a = torch.tensor([0.5, 0.5], dtype=F64)
    b = torch.tensor([0.3, 0.7], dtype=F64)
    cost = torch.tensor([[0.0, 1000.0], [1000.0, 1.0]], dtype=F64)
    return a, b, cost


@pytest.mark.parametrize("gradient", ["unrolled", "envelope", "autograd"])
def test_the_issues_example_raises_one_line_naming_the_log_domain(gradient):
    a, b, cost = infeasible()
    with pytest.raises(SinkhornUnderflowError, match='use method="log"') as caught:
        sinkhorn(a, b, cost.requires_grad_(gradient != "envelope"), 1.0, "vanilla", gradient)
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
    assert caught.value.problems == (0,) and "underflowed to 0" in str(caught.value)
    fixed = sinkhorn(a, b, cost.detach(), 1.0, "log", scaling=0.5)  # the fix it names
    assert bool(fixed.converged) and float(fixed.plan[0, 1]) == pytest.approx(0.2, abs=1e-6)


def test_flag_returns_the_unconverged_problem_and_leaves_the_batch_alone():
    a, b, cost = infeasible()
    fine = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=F64)
    batch = (torch.stack([a, a]), torch.stack([b, b]), torch.stack([fine, cost]))
    with pytest.raises(SinkhornUnderflowError, match="on problem 1,") as caught:
        sinkhorn(*batch, 1.0, "vanilla")
    assert caught.value.problems == (1,)
    flagged = sinkhorn(*batch, 1.0, "vanilla", underflow="flag")
    alone = sinkhorn(a, b, fine, 1.0, "vanilla")
    assert flagged.converged.tolist() == [True, False]
    assert float(flagged.marginal_error[1]) == pytest.approx(0.2828, abs=1e-4)  # as the issue
    assert torch.equal(flagged.plan[0], alone.plan) and torch.equal(flagged.f[0], alone.f)
    with pytest.raises(ValueError, match="unknown underflow"):
        sinkhorn(a, b, cost, 1.0, "vanilla", underflow="ignore")


def three_points():
    """Uniform weights, no row or column of K zero, yet x1 and x2 only reach y1: no plan."""
    x = torch.tensor([[[0.0, 0.5], [0.0, -0.5], [20.0, 0.0]]], dtype=F64)
    y = torch.tensor([[[0.0, 0.0], [40.0, 0.0], [40.0, 1.0]]], dtype=F64)
    return x, y


def test_flag_also_stops_iterates_that_overflow_and_kernels_with_an_empty_column():
    x, y = three_points()
    with pytest.raises(SinkhornUnderflowError, match="at iteration"):  # the iterates drift out
        sinkhorn_divergence(x, y, 1.0, method="vanilla", max_iter=5000)
    result = sinkhorn_divergence(x, y, 1.0, method="vanilla", max_iter=5000, underflow="flag")
    assert not bool(result.converged[0]) and bool(torch.isfinite(result.value).all())
    assert 1000 < int(result.xy.n_iter[0]) < 5000  # stopped at its last finite iterates
    far = torch.tensor([[[0.0, 0.0], [0.1, 0.0]]], dtype=F64)
    near = torch.tensor([[[0.0, 0.1], [50.0, 0.0]]], dtype=F64)  # y2 out of everyone's reach
    with pytest.raises(SinkhornUnderflowError, match="before the first iteration"):
        sinkhorn_divergence(far, near, 1.0, method="vanilla")
    empty = sinkhorn_divergence(far, near, 1.0, method="vanilla", underflow="flag")
    assert not bool(empty.converged[0]) and int(empty.xy.n_iter[0]) == 0
    assert bool(torch.isfinite(empty.xy.f).all())
