"""The axioms every registered manifold keeps, in float32 and float64 (geoopt's basic tests).

A new manifold is tested by being registered: points are ``projx`` of small Gaussian vectors.
"""

from __future__ import annotations

import pytest
import torch

from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.base import Drawing

DTYPES = {torch.float32: 2e-4, torch.float64: 1e-9}  # tolerance per dtype
CASES = [(name, dtype) for name in sorted(MANIFOLDS) for dtype in DTYPES]
IDS = [f"{name}-{str(dtype)[6:]}" for name, dtype in CASES]


def points(manifold, shape, seed, dtype, scale=0.2):
    g = torch.Generator().manual_seed(seed)
    return manifold.projx((scale * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype))


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=IDS)
def test_projx_is_idempotent_and_keeps_points(name, dtype):
    manifold = MANIFOLDS[name]()
    x = points(manifold, (5, 7, 3), 0, dtype)
    torch.testing.assert_close(manifold.projx(x), x, rtol=0, atol=0)
    manifold.validate_points(x, "points")  # projected points are points of the manifold
    with pytest.raises(ValueError, match="row 0"):
        manifold.validate_points(torch.full((2, 3), float("nan"), dtype=dtype), "points")


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=IDS)
def test_expmap_inverts_logmap_and_dist_is_the_norm_of_the_tangent_vector(name, dtype):
    manifold, tol = MANIFOLDS[name](), DTYPES[dtype]
    x, y = points(manifold, (4, 6, 3), 1, dtype), points(manifold, (4, 6, 3), 2, dtype)
    torch.testing.assert_close(manifold.expmap(x, manifold.logmap(x, y)), y, rtol=tol, atol=tol)
    v = 0.05 * points(MANIFOLDS["euclidean"](), (4, 6, 3), 3, dtype, scale=1.0)
    distance = manifold.dist(x, manifold.expmap(x, v))
    torch.testing.assert_close(distance, manifold.norm(x, v), rtol=50 * tol, atol=tol)
    floor = max(tol, 5e-8)  # the ball clamps arccosh's argument at 1 + 1e-15: d >= 4.5e-8
    torch.testing.assert_close(manifold.dist(x, x), torch.zeros_like(distance), rtol=0, atol=floor)


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=IDS)
def test_cost_matrix_is_the_squared_distance(name, dtype):
    manifold, tol = MANIFOLDS[name](), DTYPES[dtype]
    x, y = points(manifold, (2, 5, 3), 4, dtype), points(manifold, (2, 4, 3), 5, dtype)
    cost = manifold.cost_matrix(x, y)  # (2, 5, 4)
    direct = manifold.dist(x.unsqueeze(2), y.unsqueeze(1)).square()
    assert cost.shape == (2, 5, 4)
    torch.testing.assert_close(cost, direct, rtol=10 * tol, atol=tol)


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=IDS)
def test_gradients_are_finite_and_a_step_stays_on_the_manifold(name, dtype):
    manifold = MANIFOLDS[name]()
    x = points(manifold, (3, 8, 2), 6, dtype).requires_grad_(True)
    y = points(manifold, (3, 8, 2), 7, dtype)
    loss = manifold.cost_matrix(x, y).mean()
    loss.backward()
    assert torch.isfinite(x.grad).all()
    moved = manifold.step(x.detach(), x.grad, 0.5)
    assert torch.isfinite(moved).all()
    torch.testing.assert_close(manifold.projx(moved), moved, rtol=0, atol=0)
    assert manifold.dist(x.detach(), moved).sum() > 0


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_a_manifold_says_how_it_is_drawn(name):
    drawing = MANIFOLDS[name]().drawing()
    assert isinstance(drawing, Drawing) and "W2^2" in drawing.distance
    assert Drawing.from_dict(drawing.to_dict()) == drawing
