"""The min-SWGG solvers: the cheapest of L monotone plans (against brute force and POT, both size
paths, any projection and cost) and the SWGG surrogate's optimiser (closed form, per-seed streams,
state), and the configs' defaults as data."""

from __future__ import annotations

import pickle
from dataclasses import replace
from functools import partial

import numpy as np
import ot
import pytest
import torch
from pydantic import ValidationError

from sliceflow._kernels import policy
from sliceflow.manifolds.poincare.math import busemann_ratio, squared_geodesic_cost
from sliceflow.ot.sliced import (
    SQUARED_EUCLIDEAN,
    SQUARED_EUCLIDEAN_PLAN_BY_PLAN,
    MinSWGGConfig,
    PlanCosts,
    SWGGOptConfig,
    SWGGOptimizer,
    min_swgg_plan,
    smoothed_swgg_grad,
    squared_geodesic_plan_cost,
    swgg_cost,
    swgg_orders,
)
from sliceflow.random import random_directions
from tests.helpers import ball_points, clouds


def _directions(seeds, count, d, dtype=torch.float64):
    generators = [torch.Generator().manual_seed(50 + s) for s in seeds]
    return random_directions(generators, count, d, dtype=dtype)


def _pot_cost(x, y, sigma, tau):
    """<P, M> of the permutation plan P[sigma_i, tau_i] = 1/n, M = ot.dist (POT), one seed."""
    plan = np.zeros((x.shape[0], y.shape[0]))
    plan[sigma, tau] = 1 / len(sigma)
    return float((plan * ot.dist(x, y)).sum())


def _both_paths(monkeypatch, solve):
    """``solve()`` on the chunked search (several chunks of slices per seed), then batched."""
    monkeypatch.setattr(policy, "POLICY", replace(policy.POLICY, large_points=1, chunk_values=200))
    found = solve()
    monkeypatch.setattr(policy, "POLICY", replace(policy.POLICY, large_points=10**9))
    return found, solve()


def test_the_plan_is_the_cheapest_of_the_slices_plans_by_brute_force_and_pot():
    x, y = clouds([0, 1, 2], n=25, d=3)
    theta = _directions([0, 1, 2], 15, 3)
    sigma, tau, cost = min_swgg_plan(x, y, theta, with_costs=True)
    for s in range(3):
        xs, ys = x[s].numpy(), y[s].numpy()
        each = [_pot_cost(xs, ys, np.argsort(xs @ t), np.argsort(ys @ t)) for t in theta[s].numpy()]
        assert _pot_cost(xs, ys, sigma[s].numpy(), tau[s].numpy()) == pytest.approx(min(each))
        assert float(cost[s]) == pytest.approx(min(each), rel=1e-12)
        _, pot = ot.min_sliced_transport_plan(x[s], y[s], projections=theta[s].T)
        assert float(cost[s]) == pytest.approx(float(pot), rel=1e-10)
        assert float(cost[s]) >= ot.emd2([], [], ot.dist(xs, ys)) - 1e-12  # a real plan


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_chunked_search_finds_the_batched_plan(monkeypatch, dtype):
    x, y = clouds([3, 4], n=40, d=2, dtype=dtype)
    theta = _directions([3, 4], 30, 2, dtype)
    found, batched = _both_paths(monkeypatch, lambda: min_swgg_plan(x, y, theta, with_costs=True))
    assert torch.equal(found[0], batched[0]) and torch.equal(found[1], batched[1])
    torch.testing.assert_close(found[2], batched[2], rtol=1e-5, atol=0)


@pytest.mark.parametrize("n,m", [(30, 30), (20, 45)])
def test_on_the_ball_both_paths_give_the_cheapest_busemann_plan(monkeypatch, n, m):
    x = torch.stack([ball_points((n, 2), radius=0.8, seed=s) for s in (0, 1)])
    y = torch.stack([ball_points((m, 2), radius=0.5, seed=9 + s) + 0.3 for s in (0, 1)])
    p = _directions([0, 1], 25, 2)
    order, cost = partial(busemann_ratio, c=1.0), squared_geodesic_plan_cost(1.0)
    found, batched = _both_paths(
        monkeypatch, lambda: min_swgg_plan(x, y, p, order, cost, with_costs=True)
    )
    assert torch.equal(found[0], batched[0]) and torch.equal(found[1], batched[1])
    k = max(n, m)
    levels = [((torch.arange(k) + 0.5) / k * size).floor().long() for size in (n, m)]
    for s in range(2):  # brute force: each ideal point's plan priced by the geodesic cost matrix
        values = [busemann_ratio(z[s : s + 1], p[s : s + 1])[0] for z in (x, y)]  # (L, n), (L, m)
        orders = [v.argsort(-1)[:, i] for v, i in zip(values, levels, strict=True)]
        each = squared_geodesic_cost(x[s], y[s])[orders[0], orders[1]].mean(-1)  # (L,)
        assert float(batched[2][s]) == pytest.approx(float(each.min()), rel=1e-12)
        torch.testing.assert_close(found[2][s], batched[2][s], rtol=1e-12, atol=0)


def test_the_costs_price_the_same_plans_alike():
    x, y = clouds([5, 6], n=30, d=4)
    sigma, tau = swgg_orders(x, y, _directions([5, 6], 12, 4))  # (S, L, n)
    gram = SQUARED_EUCLIDEAN.prepare(x, y)(sigma, tau)
    by_plan = SQUARED_EUCLIDEAN_PLAN_BY_PLAN.prepare(x, y)(sigma, tau)
    shared = SQUARED_EUCLIDEAN.prepared(PlanCosts(x, y, by_coordinate=True)).prepare(None, None)
    torch.testing.assert_close(gram, by_plan, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(shared(sigma, tau), gram, rtol=1e-12, atol=1e-12)
    for cost in (SQUARED_EUCLIDEAN, SQUARED_EUCLIDEAN_PLAN_BY_PLAN):
        matched = cost.matched(x[1], y[1], sigma[1], tau[1])
        torch.testing.assert_close(matched.double(), gram[1], rtol=1e-12, atol=1e-12)


def test_reproject_gives_the_orderings_of_the_winning_direction_alone():
    x, y = clouds([7, 8], n=300, d=2, dtype=torch.float32)
    theta = _directions([7, 8], 20, 2, torch.float32)
    sigma, tau, cost = min_swgg_plan(x, y, theta, with_costs=True, reproject=True)
    rows = torch.arange(2)
    costs = PlanCosts(x, y)(*swgg_orders(x, y, theta))
    alone = swgg_orders(x, y, theta[rows, costs.argmin(1)].unsqueeze(1))
    assert torch.equal(sigma, alone[0][:, 0]) and torch.equal(tau, alone[1][:, 0])
    assert torch.equal(cost, costs.min(1).values)


@pytest.mark.parametrize("path", ["batched", "chunked"])
def test_a_seed_alone_gets_the_plan_it_gets_in_a_batch(monkeypatch, path):
    if path == "chunked":
        monkeypatch.setattr(policy, "POLICY", replace(policy.POLICY, large_points=1))
    x, y = clouds([0, 1, 2], n=50, d=3, dtype=torch.float32)
    theta = _directions([0, 1, 2], 20, 3, torch.float32)
    together = min_swgg_plan(x, y, theta, with_costs=True)
    alone = min_swgg_plan(x[1:2], y[1:2], theta[1:2], with_costs=True)
    assert all(torch.equal(a[1], b[0]) for a, b in zip(together, alone, strict=True))


def test_the_surrogate_without_blur_is_swgg():
    x, y = clouds([1, 2, 3], n=20, d=3)
    theta = _directions([1, 2, 3], 1, 3)[:, 0]
    value, _ = smoothed_swgg_grad(x, y, theta, torch.zeros(3, 2, 20, dtype=torch.float64))
    sigma, tau = swgg_orders(x, y, theta.unsqueeze(1))
    for s in range(3):
        pot = _pot_cost(x[s].numpy(), y[s].numpy(), sigma[s, 0].numpy(), tau[s, 0].numpy())
        assert float(value[s]) == pytest.approx(pot, rel=1e-12)
    torch.testing.assert_close(value, swgg_cost(x, y, theta), rtol=1e-12, atol=1e-12)


def _optimizer(seeds, **settings):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return SWGGOptimizer(SWGGOptConfig(**settings), generators, 3, dtype=torch.float64)


def test_fit_is_torch_adam_on_the_surrogate_with_theta_renormalised_before_each_step():
    x, y = clouds([0, 1, 2], n=16, d=3)
    solver = _optimizer([0, 1, 2], inner_steps=5, inner_lr=0.05, n_copies=3, eps=0.2)
    replay = [torch.Generator().set_state(g.get_state()) for g in solver.generators]
    theta = solver.theta.clone().requires_grad_(True)
    adam = torch.optim.Adam([theta], lr=0.05)
    for _ in range(5):
        with torch.no_grad():
            theta /= theta.norm(dim=-1, keepdim=True)
        noise = torch.stack([torch.randn(2, 48, generator=g, dtype=torch.float64) for g in replay])
        _, theta.grad = smoothed_swgg_grad(x, y, theta.detach(), 0.1 * noise)
        adam.step()
    expected = theta.detach() / theta.detach().norm(dim=-1, keepdim=True)
    torch.testing.assert_close(solver.fit(x, y), expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(solver.theta.norm(dim=-1), torch.ones(3, dtype=torch.float64))


def test_the_optimizer_on_a_seed_alone_equals_that_seed_in_a_batch():
    x, y = clouds([0, 1, 2], n=24, d=3)
    together, alone = _optimizer([0, 1, 2], inner_steps=4), _optimizer([1], inner_steps=4)
    for restart in (True, False, True):
        together.fit(x, y, restart=restart)
        alone.fit(x[1:2], y[1:2], restart=restart)
        assert torch.equal(together.theta[1:2], alone.theta)
    assert torch.equal(together.orders(x, y)[0][1:2], alone.orders(x[1:2], y[1:2])[0])


@pytest.mark.parametrize("restart", [False, True])
def test_the_optimizer_resumes_bit_for_bit(restart):
    x, y = clouds([4, 5], n=24, d=3)
    first = _optimizer([4, 5], inner_steps=3)
    first.fit(x, y, restart=restart)
    state = first.state_dict(optimizer=not restart)  # a restarting task needs theta only
    streams = [g.get_state() for g in first.generators]
    expected = [first.fit(x, y, restart=restart).clone() for _ in range(2)]
    second = _optimizer([8, 9], inner_steps=3)
    second.load_state_dict(pickle.loads(pickle.dumps(state)))
    for generator, saved in zip(second.generators, streams, strict=True):
        generator.set_state(saved)
    assert all(torch.equal(second.fit(x, y, restart=restart), e) for e in expected)


Wider = MinSWGGConfig.with_defaults("Wider", {"n_projections": 100}, module=__name__)


def test_defaults_as_data_keep_every_field_meaning_and_change_only_the_default():
    assert Wider().n_projections == 100 and MinSWGGConfig().n_projections == 20
    field, base = Wider.model_fields["n_projections"], MinSWGGConfig.model_fields["n_projections"]
    assert field.description == base.description and field.metadata == base.metadata
    with pytest.raises(ValidationError):
        Wider(n_projections=0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        Wider(lr=1.0)
    assert pickle.loads(pickle.dumps(Wider(n_projections=7))) == Wider(n_projections=7)
    with pytest.raises(TypeError, match="no field 'n_slices'"):
        MinSWGGConfig.with_defaults("Bad", {"n_slices": 3}, module=__name__)
