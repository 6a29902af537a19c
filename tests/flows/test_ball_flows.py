"""Ball flows: Busemann and geodesic-projection facts, HHSW vs POT, min-SWGG >= W2, DGSWP parts."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from sliceflow.flows import get_flow
from sliceflow.flows.base import FlowContext
from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.poincare.math import (
    busemann,
    geodesic_coordinate,
    geodesic_coordinate_lorentz,
    geodesic_distance,
    matched_sq_geodesic,
    poincare_to_lorentz,
    squared_geodesic_cost,
)
from sliceflow.manifolds.sphere import mean_resultant_length, rotate_from_pole, vmf_sample
from sliceflow.ot.sliced._dgswp_ball import vmf_score_gradient
from sliceflow.ot.sliced._plans import plan_costs
from sliceflow.ot.sliced._slicing import matched_indices, wasserstein2_1d
from tests.helpers import ball_points, sphere_points

BALL_FLOWS = ["hhsw", "ghsw", "swd", "dgswp", "min_swgg"]


def generators(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def make_flow(method, seeds=(0, 1, 2), n=30, m=30, curvature=-1.0, **params):
    manifold = MANIFOLDS["poincare"](MANIFOLDS["poincare"].Config(curvature=curvature))
    cls = get_flow(method, "poincare")
    context = FlowContext(
        n_seeds=len(seeds), n=n, m=m, d=2, dtype=torch.float64, device=torch.device("cpu"),
        manifold=manifold, generators=generators(seeds), seeds=list(seeds),
    )  # fmt: skip
    return cls(cls.Config(**params), context)


def unit(v):
    v = torch.as_tensor(v, dtype=torch.float64)
    return v / v.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize("c", [1.0, 0.5, 3.0])
def test_busemann_is_zero_at_the_origin_and_minus_the_distance_along_the_ray_to_p(c):
    p = unit([[[0.6, 0.8]]])  # (1, 1, 2)
    assert busemann(torch.zeros(1, 1, 2, dtype=torch.float64), p, c).abs().item() < 1e-15
    t = torch.linspace(0.0, 0.999, 50, dtype=torch.float64)
    ray = (t[:, None] * p[0, 0] / c**0.5).unsqueeze(0)  # (1, 50, 2) towards p
    values = busemann(ray, p, c)[0, 0]  # (50,)
    assert (values.diff() < 0).all()  # decreases towards p
    distance = geodesic_distance(torch.zeros_like(ray), ray, c)[0]
    assert torch.allclose(values, -distance, atol=1e-7)  # arccosh clamp: d(0, 0) = 4.7e-8


def test_busemann_riemannian_gradient_has_unit_norm():
    x = ball_points((1, 200, 3), radius=0.99).requires_grad_(True)
    p = sphere_points(generators([0]), 4, 3)  # (1, 4, 3)
    for slice_ in range(4):
        (grad,) = torch.autograd.grad(busemann(x, p)[0, slice_].sum(), x)
        # |grad_R|_x = lambda_x |grad_E / lambda_x^2| = |grad_E| (1 - |x|^2) / 2
        norm = grad.norm(dim=-1) * (1 - x.detach().square().sum(-1)) / 2
        assert torch.allclose(norm, torch.ones_like(norm), atol=1e-9)


def test_geodesic_coordinate_ball_and_lorentz_forms_agree_and_give_signed_distances():
    x = ball_points((2, 100, 3), radius=0.999)
    v = sphere_points(generators([1, 2]), 5, 3)  # (2, 5, 3)
    ball = geodesic_coordinate(x, v)
    assert torch.allclose(ball, geodesic_coordinate_lorentz(poincare_to_lorentz(x), v), atol=1e-9)
    on_line = torch.linspace(-0.99, 0.99, 41, dtype=torch.float64)[:, None] * v[0, 0]  # (41, 3)
    t = geodesic_coordinate(on_line[None], v[:1, :1])[0, 0]
    signed = torch.sign(on_line @ v[0, 0]) * geodesic_distance(torch.zeros(3).double(), on_line)
    assert torch.allclose(t, signed, atol=1e-7)  # arccosh clamp at 1 + 1e-15


def test_geodesic_coordinate_locates_the_closest_point_of_the_geodesic():
    x = ball_points((1, 5, 2), radius=0.9, seed=3)
    v = unit([[[1.0, 2.0]]])
    t = geodesic_coordinate(x, v)[0, 0]  # (5,)
    s = torch.linspace(-0.999, 0.999, 20001, dtype=torch.float64)[:, None] * v[0, 0]  # line
    closest = s[geodesic_distance(x[0][:, None], s[None]).argmin(dim=1)]  # (5, 2)
    assert torch.allclose(torch.tanh(t / 2), closest @ v[0, 0], atol=1e-4)


@pytest.mark.parametrize("n, m", [(30, 30), (20, 40)])
def test_sliced_1d_w2_equals_pot_per_direction(n, m):
    x, y = ball_points((2, n, 2), seed=4), ball_points((2, m, 2), seed=5)
    p = sphere_points(generators([3, 4]), 6, 2)
    bx, by = busemann(x, p), busemann(y, p)
    expected = [
        np.mean([ot.wasserstein_1d(bx[s, j].numpy(), by[s, j].numpy(), p=2) for j in range(6)])
        for s in range(2)
    ]
    assert np.allclose(wasserstein2_1d(bx, by).numpy(), expected, rtol=1e-10)


def test_plan_costs_equal_the_differentiable_matched_cost():
    x, y = ball_points((3, 25, 2), seed=6), ball_points((3, 25, 2), seed=7)
    p = sphere_points(generators([5, 6, 7]), 4, 2)
    sigma, tau = matched_indices(busemann(x, p), busemann(y, p))  # (3, 4, 25)
    costs = plan_costs(squared_geodesic_cost(x, y), sigma, tau)  # (3, 4)
    for slice_ in range(4):
        direct = matched_sq_geodesic(x, y, sigma[:, slice_], tau[:, slice_])
        assert torch.allclose(costs[:, slice_], direct, rtol=1e-12)


def test_min_swgg_on_the_ball_is_a_plan_cost_above_exact_w2():
    flow = make_flow("min_swgg", n_projections=50)
    x, y = ball_points((3, 30, 2), seed=8), ball_points((3, 30, 2), seed=9)
    loss = flow.loss(x, y)
    for s in range(3):
        exact = ot.emd2([], [], squared_geodesic_cost(x[s], y[s]).numpy())
        assert loss[s].item() >= exact - 1e-12
    assert torch.allclose(flow.loss(y, y), torch.zeros(3, dtype=torch.float64), atol=1e-12)


def test_vmf_score_gradient_of_a_linear_function_has_the_closed_form_mean():
    # h(q) = <a, q>: E kappa (h(q') - h(p)) (I - pp^T) q' = A_d(kappa) (I - pp^T) a
    kappa, d = 5.0, 3
    p = sphere_points(generators([0, 1]), 1, d)[:, 0]  # (2, d)
    a = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    draws = vmf_sample(generators([2, 3]), p, kappa, 200000)  # (2, N, d)
    grad = vmf_score_gradient(p.numpy(), draws.numpy(), (p @ a).numpy(), (draws @ a).numpy(), kappa)
    expected = mean_resultant_length(kappa, d) * (a - (p @ a)[:, None] * p)
    assert np.allclose(grad, expected.numpy(), atol=0.03)


def test_rotate_from_pole_turns_pole_draws_into_draws_around_p():
    p = sphere_points(generators([4, 5]), 1, 3)[:, 0]
    pole = torch.tensor([[1.0, 0.0, 0.0]] * 2, dtype=torch.float64)
    draws = vmf_sample(generators([6, 7]), pole, 20.0, 50000)
    moved = torch.from_numpy(rotate_from_pole(p.numpy(), draws.numpy()))
    assert torch.allclose(moved.norm(dim=-1), torch.ones(2, 50000, dtype=torch.float64))
    assert torch.allclose((moved * p[:, None]).sum(-1), draws[..., 0], atol=1e-12)
    mean = moved.mean(dim=1)
    assert torch.allclose(mean, mean_resultant_length(20.0, 3) * p, atol=0.01)
    same = rotate_from_pole(pole.numpy(), draws.numpy())
    assert np.array_equal(same, draws.numpy())


def test_dgswp_inner_loop_lowers_the_plan_cost_and_keeps_p_on_the_sphere():
    seeds = list(range(8))
    flow = make_flow("dgswp", seeds=seeds, inner_steps=100, n=40, m=40)
    x = ball_points((8, 40, 2), seed=10)
    y = ball_points((8, 40, 2), radius=0.5, seed=11) + 0.3
    before = flow.loss(x, y)
    flow.inner_update(x, y)
    after = flow.loss(x, y)
    assert torch.allclose(flow.p.norm(dim=-1), torch.ones(8, dtype=torch.float64))
    assert after.median() < before.median()


def test_dgswp_keep_best_never_ends_above_the_starting_plan_cost():
    flow = make_flow("dgswp", seeds=range(6), inner_steps=30, keep_best=True, inner_lr=0.5)
    x = ball_points((6, 30, 2), seed=20)
    y = ball_points((6, 30, 2), radius=0.5, seed=21) - 0.2
    for _ in range(3):
        before = flow.loss(x, y)
        flow.inner_update(x, y)
        assert (flow.loss(x, y) <= before).all()


@pytest.mark.parametrize("method", BALL_FLOWS)
def test_ball_flows_give_finite_gradients_at_the_boundary_and_on_coincident_points(method):
    flow = make_flow(method, n=30, m=30, **({"inner_steps": 3} if method == "dgswp" else {}))
    x = ball_points((3, 30, 2), radius=1.0, seed=14)
    x = x / x.norm(dim=-1, keepdim=True) * (1 - 1e-5)  # geoopt's float64 projection radius
    y = x.clone()
    y[:, 15:] = ball_points((3, 15, 2), seed=15)
    x.requires_grad_(True)
    flow.inner_update(x.detach(), y)
    loss = flow.loss(x, y)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("method", ["hhsw", "ghsw", "min_swgg"])
def test_curvature_rescales_the_losses(method):
    # x -> x / sqrt(c) maps the unit ball onto the ball of curvature -c and divides costs by c
    x, y = ball_points((3, 30, 2), seed=16), ball_points((3, 30, 2), seed=17)
    unit_loss = make_flow(method).loss(x, y)
    scaled = make_flow(method, curvature=-4.0).loss(x / 2, y / 2)
    assert torch.allclose(scaled, unit_loss / 4, rtol=1e-9)
