"""exact_ot: the exact W2^2 and its envelope gradient, checked against POT's plans."""

from __future__ import annotations

from functools import partial

import numpy as np
import ot
import pytest
import torch

from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.poincare.math import squared_geodesic_cost
from sliceflow.ot.exact import exact_w2sq_batch
from tests import helpers
from tests.helpers import ball_points, clouds, value_and_grad

make_flow = partial(helpers.make_flow, "exact_ot")  # make_flow(manifold, seeds=..., n=...)


@pytest.mark.parametrize("solver", ["auto", "pot"])
def test_gradient_is_two_over_n_times_the_displacement_to_pot_matches(solver):
    x, y = clouds([0, 1], n=30)
    loss, grad = value_and_grad(make_flow(solver=solver), x, y)
    for s in range(2):
        cost = ot.dist(x[s].numpy(), y[s].numpy())
        plan = ot.emd([], [], cost)  # a permutation / n (the optimum is unique here)
        matched = torch.from_numpy(30 * plan @ y[s].numpy())  # T(x_i)
        assert torch.allclose(grad[s], 2 / 30 * (x[s] - matched), atol=1e-12)
        assert float(loss[s]) == pytest.approx(ot.emd2([], [], cost), rel=1e-12)


def test_unequal_sizes_use_the_barycentric_projection_of_the_optimal_plan():
    x, _ = clouds([3], n=20)
    _, y = clouds([4], n=35)
    loss, grad = value_and_grad(make_flow(seeds=[3], n=20, m=35), x, y)
    cost = ot.dist(x[0].numpy(), y[0].numpy())
    plan = ot.emd([], [], cost)
    barycentric = torch.from_numpy(20 * plan @ y[0].numpy())  # T(x_i) = n sum_j P_ij y_j
    assert torch.allclose(grad[0], 2 / 20 * (x[0] - barycentric), atol=1e-12)
    assert float(loss[0]) == pytest.approx(ot.emd2([], [], cost), rel=1e-12)


def test_loss_equals_the_exact_trace():
    x, y = clouds([0, 1, 2], n=40)
    loss, _ = value_and_grad(make_flow(seeds=[0, 1, 2], n=40, m=40), x, y)
    trace = exact_w2sq_batch(x, y, MANIFOLDS["euclidean"]())
    np.testing.assert_allclose(loss.numpy(), trace, rtol=1e-12)


def test_w2_decreases_by_at_least_the_euler_contraction_along_the_flow():
    """x <- x - lr (2/n)(x - T x) = x + h (T x - x): the matching T stays a plan, so
    W2^2(next) <= (1 - h)^2 W2^2 (an invariant of the discrete W2 gradient flow)."""
    n, lr = 30, 0.6
    h = 2 * lr / n
    flow = make_flow(seeds=[5], n=n, m=n)
    x, y = clouds([5], n=n)
    previous = float(value_and_grad(flow, x, y)[0][0])
    for _ in range(25):
        _, grad = value_and_grad(flow, x, y)
        x = x - lr * grad
        current = float(exact_w2sq_batch(x, y, flow.context.manifold)[0])
        assert current <= (1 - h) ** 2 * previous * (1 + 1e-12)
        previous = current


def test_ball_gradient_matches_the_matched_geodesic_cost_and_is_finite_at_the_boundary():
    n = 16
    x = ball_points((1, n, 2), radius=0.5, seed=1)
    x[0, :4] *= (1 - 1e-5) / x[0, :4].norm(dim=-1, keepdim=True)  # on geoopt's float64 rim
    y = ball_points((1, n, 2), radius=0.99, seed=2)
    flow = make_flow("poincare", seeds=[0], n=n, m=n)
    loss, grad = value_and_grad(flow, x, y)
    assert torch.isfinite(grad).all() and grad[0, :4].abs().sum() > 0
    cost = squared_geodesic_cost(x[0], y[0]).numpy()
    plan = torch.from_numpy(ot.emd([], [], cost))
    xv = x.detach().requires_grad_(True)
    expected = (plan * squared_geodesic_cost(xv[0], y[0])).sum()
    (expected_grad,) = torch.autograd.grad(expected, xv)
    assert float(loss[0]) == pytest.approx(float(expected.detach()), rel=1e-12)
    assert torch.allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)
    moved = flow.context.manifold.step(x, grad, 2.5)
    assert torch.isfinite(moved).all() and (moved.norm(dim=-1) < 1).all()
