"""Poincaré ball helpers against geoopt and closed forms (float32 and float64)."""

from __future__ import annotations

import geoopt
import numpy as np
import pytest
import torch

from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.poincare.math import (
    geodesic_distance,
    lorentz_expmap,
    lorentz_logmap,
    lorentz_to_poincare,
    minkowski_inner,
    parallel_transport_from_origin,
    poincare_to_lorentz,
    squared_geodesic_cost,
)
from tests.helpers import ball_points

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_conversions_invert_each_other_and_land_on_the_hyperboloid(dtype):
    x = ball_points((200, 3), dtype=dtype)
    lorentz = poincare_to_lorentz(x)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert torch.allclose(
        minkowski_inner(lorentz, lorentz), -torch.ones(200, dtype=dtype), atol=tol
    )
    assert (lorentz[:, 0] > 0).all()
    assert torch.allclose(lorentz_to_poincare(lorentz), x, atol=tol)


@pytest.mark.parametrize("curvature", [-1.0, -0.3, -2.5])
def test_geodesic_distance_equals_geoopt_dist(curvature):
    c = -curvature
    x = ball_points((100, 2), radius=0.95 / c**0.5, seed=1)
    y = ball_points((100, 2), radius=0.95 / c**0.5, seed=2)
    ball = geoopt.PoincareBall(c=torch.tensor(c, dtype=torch.float64))
    assert torch.allclose(geodesic_distance(x, y, c), ball.dist(x, y), rtol=1e-9, atol=1e-9)
    manifold = MANIFOLDS["poincare"](MANIFOLDS["poincare"].Config(curvature=curvature))
    expected = ball.dist(x.unsqueeze(-2), y.unsqueeze(-3)).square()
    assert torch.allclose(manifold.cost_matrix(x, y), expected, rtol=1e-9, atol=1e-9)


def test_geodesic_distance_is_the_lorentz_distance():
    x, y = ball_points((50, 2), seed=3), ball_points((50, 2), seed=4)
    alpha = -minkowski_inner(poincare_to_lorentz(x), poincare_to_lorentz(y))
    assert torch.allclose(geodesic_distance(x, y), torch.arccosh(alpha), atol=1e-9)


def test_cost_matrix_is_finite_and_zero_on_the_diagonal():
    x = ball_points((4, 30, 2), radius=0.99999)
    cost = squared_geodesic_cost(x, x)
    assert cost.shape == (4, 30, 30) and torch.isfinite(cost).all()
    assert cost.diagonal(dim1=1, dim2=2).abs().max() < 1e-13


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_keeps_points_inside_even_for_huge_gradients(dtype):
    manifold = MANIFOLDS["poincare"]()
    x = ball_points((3, 50, 2), radius=0.999, dtype=dtype)
    grad = 1e6 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    moved = manifold.step(x, grad, 2.5)
    assert moved.dtype == dtype and torch.isfinite(moved).all()
    assert (moved.norm(dim=-1) < 1).all()


@pytest.mark.parametrize(
    "step_map, geoopt_ball", [("expmap", geoopt.PoincareBallExact), ("retr", geoopt.PoincareBall)]
)
def test_step_equals_geoopt_riemannian_sgd_with_stabilize_1(step_map, geoopt_ball):
    manifold = MANIFOLDS["poincare"](MANIFOLDS["poincare"].Config(step_map=step_map))
    x = ball_points((2, 40, 2), radius=0.95)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    ball = geoopt_ball(c=torch.tensor(1.0, dtype=torch.float64))
    point = geoopt.ManifoldParameter(x.clone(), manifold=ball)
    optimizer = geoopt.optim.RiemannianSGD([point], lr=2.5, stabilize=1)
    point.grad = grad.clone()
    optimizer.step()
    assert torch.allclose(manifold.step(x, grad, 2.5), point.detach(), atol=1e-12)


def test_riemannian_gradient_is_the_conformal_rescaling():
    manifold = MANIFOLDS["poincare"]()
    x = ball_points((30, 2))
    grad = torch.randn_like(x)
    factor = (1 - x.square().sum(-1, keepdim=True)).square() / 4
    assert torch.allclose(manifold.egrad2rgrad(x, grad), factor * grad, atol=1e-14)


def test_lorentz_expmap_logmap_round_trip_and_distance():
    mu = poincare_to_lorentz(ball_points((100, 2), seed=7))
    x = poincare_to_lorentz(ball_points((100, 2), seed=8))
    u = lorentz_logmap(mu, x)
    assert torch.allclose(minkowski_inner(mu, u), torch.zeros(100, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(lorentz_expmap(mu, u), x, atol=1e-7)
    norm = minkowski_inner(u, u).sqrt()
    assert torch.allclose(norm, torch.arccosh(-minkowski_inner(mu, x)), atol=1e-8)


def test_parallel_transport_from_origin_keeps_norms_and_tangency():
    mu = poincare_to_lorentz(ball_points((100, 3), seed=9))
    v = torch.cat([torch.zeros(100, 1, dtype=torch.float64), torch.randn(100, 3).double()], 1)
    u = parallel_transport_from_origin(mu, v)
    assert torch.allclose(minkowski_inner(mu, u), torch.zeros(100, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(minkowski_inner(u, u), minkowski_inner(v, v), atol=1e-9)


@pytest.mark.parametrize("row, value", [(2, [1.0, 0.0]), (1, [0.6, 0.8]), (0, [np.nan, 0.0])])
def test_validate_points_names_the_first_offending_row(row, value):
    points = torch.tensor([[0.1, 0.2], [0.3, 0.0], [0.0, -0.4]], dtype=torch.float64)
    points[row] = torch.tensor(value, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"target file: row {row} "):
        MANIFOLDS["poincare"]().validate_points(points, "target file")


def test_validate_points_accepts_inside_points_and_states_the_fix():
    manifold = MANIFOLDS["poincare"]()
    manifold.validate_points(ball_points((10, 2), radius=0.999999), "source")
    with pytest.raises(ValueError, match="strictly inside the ball"):
        manifold.validate_points(torch.tensor([[0.0, 1.5]]), "target file")


def test_curvature_must_be_negative():
    with pytest.raises(ValueError):
        MANIFOLDS["poincare"].Config(curvature=0.0)
