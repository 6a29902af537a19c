"""The ball family of the DGSWP solver: equal, bit for bit, to the loop the ball flow ran before
the solver (its formulas written out below), batching, persistence format, config defaults."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from sliceflow.flows import get_flow
from sliceflow.flows.base import FlowContext
from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.poincare.math import squared_geodesic_cost
from sliceflow.manifolds.sphere import vmf_from_parts, vmf_radial
from sliceflow.ot.sliced import BusemannProjections, DGSWPConfig, DGSWPSolver
from sliceflow.random import randn, random_directions
from tests.helpers import ball_points

BALL = get_flow("dgswp", "poincare")


def gens(seeds):
    return [torch.Generator().manual_seed(40 + s) for s in seeds]


def ball_clouds(seeds, n=20, m=20, d=3):
    x = torch.stack([ball_points((n, d), radius=0.7, seed=s) for s in seeds])
    y = torch.stack([ball_points((m, d), radius=0.5, seed=70 + s) + 0.2 for s in seeds])
    return x, y


def ball_solver(seeds, d=3, c=1.0, dtype=torch.float64, **changes):
    options = {"projection": "busemann", "optimizer": "sgd", "inner_lr": 0.3} | changes
    return DGSWPSolver.from_config(DGSWPConfig(**options), d, gens(seeds), dtype=dtype,
                                   curvature=c)  # fmt: skip


def old_inner_loop(p, x, y, c, kappa, lr, steps, count, generators, keep_best):
    """The ball flow's inner loop as it was written before the solver (NumPy, float64): all vMF
    draws at once around e_1, Householder moves to p, plan costs gathered from the cost matrix,
    the variance-reduced score estimate, the sphere step."""
    S, d = p.shape
    n, m = x.shape[1], y.shape[1]
    k = max(n, m)
    cost = squared_geodesic_cost(x, y, c).double().numpy().reshape(-1)
    radial = vmf_radial(generators, kappa, d, steps * count)
    gauss = randn(generators, (steps * count, d), dtype=torch.float64)
    pole = torch.zeros(S, d, dtype=torch.float64)
    pole[:, 0] = 1.0
    around_pole = vmf_from_parts(pole, radial, gauss).view(S, steps, count, d).numpy()
    xs, ys = x.double().numpy() * c**0.5, y.double().numpy() * c**0.5
    points = np.concatenate([xs, ys], axis=1).transpose(0, 2, 1)
    sq = np.square(points).sum(1)[:, None, :]
    offset = (np.arange(S) * (n * m))[:, None, None]

    def levels(size):  # a slice when nothing is resampled (the layout decides the sum's order)
        if size == k:
            return slice(None)
        return np.minimum(np.floor((np.arange(k) + 0.5) / k * size).astype(np.int64), size - 1)

    def plan_cost(candidates):
        ratio = np.maximum((1.0 + sq - 2.0 * (candidates @ points)) / (1.0 - sq), 1e-10)
        sigma, tau = np.argsort(ratio[..., :n], axis=-1), np.argsort(ratio[..., n:], axis=-1)
        if n != m:
            sigma, tau = sigma[..., levels(n)], tau[..., levels(m)]
        return cost[sigma * m + tau + offset].sum(-1) / k

    best_p, best_h = p, np.full(S, np.inf)
    for step in range(steps):
        u = -p
        u[:, 0] += 1.0
        unorm = np.square(u).sum(-1, keepdims=True)
        scale = np.divide(2.0, unorm, out=np.zeros_like(unorm), where=unorm > 1e-300)
        draws = around_pole[:, step]
        perturbed = draws - (draws @ (u * scale)[:, :, None]) * u[:, None]
        h = plan_cost(np.concatenate([p[:, None], perturbed], axis=1))
        if keep_best:
            better = h[:, 0] < best_h
            best_p, best_h = np.where(better[:, None], p, best_p), np.minimum(h[:, 0], best_h)
        tangent = perturbed - (perturbed @ p[:, :, None]) * p[:, None]
        slopes = (kappa / count) * (h[:, 1:] - h[:, :1])
        p = p - lr * (slopes[..., None] * tangent).sum(1)
        p /= np.sqrt(np.square(p).sum(-1, keepdims=True))
    if keep_best:
        p = np.where((plan_cost(p[:, None])[:, 0] < best_h)[:, None], p, best_p)
    return p


@pytest.mark.parametrize("keep_best", [False, True])
@pytest.mark.parametrize(("n", "m", "c"), [(20, 20, 1.0), (20, 13, 2.0)])
def test_fit_equals_the_old_loop_bit_for_bit(keep_best, n, m, c):
    seeds = [0, 1, 2]
    x, y = ball_clouds(seeds, n, m)
    x, y = x / c**0.5, y / c**0.5  # on the ball of curvature -c
    solver = ball_solver(seeds, c=c, keep_best=keep_best, kappa=50.0, n_perturbations=7)
    generators = gens(seeds)
    p = random_directions(generators, 1, 3, dtype=torch.float64)[:, 0].numpy()
    assert np.array_equal(solver.params.numpy(), p)
    for _ in range(2):  # twice: the second loop starts from the first one's end
        solver.fit(x, y, 6)
        p = old_inner_loop(p, x, y, c, 50.0, 0.3, 6, 7, generators, keep_best)
        assert np.array_equal(solver.params.numpy(), p)
    assert all(torch.equal(a.get_state(), b.get_state())
               for a, b in zip(solver.generators, generators, strict=True))  # fmt: skip


def test_one_step_is_the_score_estimate_and_the_sphere_step():
    """perturb / gradient / update by hand: the costs are those of p and of the moved draws."""
    x, y = ball_clouds([4])
    solver = ball_solver([4], kappa=30.0, n_perturbations=5)
    clouds = solver.prepare(x, y)
    p = solver.params.clone()
    perturbation = solver.perturb(clouds)
    candidates = torch.cat([p.unsqueeze(1), torch.from_numpy(perturbation.draws)], 1)
    assert torch.equal(perturbation.costs, solver.family.plan_costs(candidates, clouds))
    sigma, tau = solver.family.orders(candidates, x, y)  # the differentiable path's plans
    direct = torch.stack([solver.family.matched_cost(x, y, sigma[:, j], tau[:, j])
                          for j in range(6)], 1)  # fmt: skip
    torch.testing.assert_close(perturbation.costs, direct, rtol=1e-12, atol=1e-12)
    q, h = perturbation.draws[0], perturbation.costs[0].numpy()
    p0 = p[0].numpy()
    tangent = q - np.outer(q @ p0, p0)
    grad = 30.0 / 5 * ((h[1:] - h[0])[:, None] * tangent).sum(0)
    np.testing.assert_allclose(solver.gradient(perturbation)[0], grad, rtol=1e-13, atol=1e-13)
    solver.update(perturbation)
    moved = (p0 - 0.3 * grad) / np.linalg.norm(p0 - 0.3 * grad)
    np.testing.assert_allclose(solver.params[0].numpy(), moved, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("keep_best", [False, True])
def test_a_seed_alone_equals_the_same_seed_in_a_batch(keep_best):
    seeds = [0, 3, 8]
    x, y = ball_clouds(seeds, 18, 11)
    batch = ball_solver(seeds, keep_best=keep_best)
    batch.fit(x, y, 12)
    for i, seed in enumerate(seeds):
        alone = ball_solver([seed], keep_best=keep_best)
        alone.fit(x[i : i + 1], y[i : i + 1], 12)
        assert torch.equal(alone.params[0], batch.params[i])
        assert torch.equal(alone.cost(alone.prepare(x[i : i + 1], y[i : i + 1]))[0],
                           batch.cost(batch.prepare(x, y))[i])  # fmt: skip


def test_float32_particles_see_p_rounded_after_each_fit():
    """The loop runs in float64; p is rounded to the particles' dtype after each fit."""
    x, y = (t.float() for t in ball_clouds([5]))
    solver = ball_solver([5], dtype=torch.float32)
    generators = gens([5])
    p = random_directions(generators, 1, 3, dtype=torch.float32)[:, 0].double().numpy()
    for _ in range(2):
        solver.fit(x, y, 4)
        p = old_inner_loop(p, x, y, 1.0, 400.0, 0.3, 4, 10, generators, False)
        p = p.astype(np.float32).astype(np.float64)
        assert np.array_equal(solver.params.numpy(), p)


def make_ball_flow(seeds, **params):
    manifold = MANIFOLDS["poincare"]()
    context = FlowContext(len(seeds), 20, 20, 3, torch.float64, torch.device("cpu"), manifold,
                          gens(seeds), list(seeds))  # fmt: skip
    return BALL(BALL.Config(**params), context)


def test_the_ball_flow_keeps_its_settings_and_its_checkpoint_format():
    config = BALL.Config()
    assert (config.projection, config.optimizer, config.inner_steps) == ("busemann", "sgd", 100)
    assert (config.kappa, config.n_perturbations, config.inner_lr) == (400.0, 10, 0.01)
    assert BALL.Config(**config.model_dump()) == config  # a dump (all keys) validates again
    flow = make_ball_flow([0, 1], inner_steps=3)
    assert set(flow.state_dict()) == {"p"} and flow.state_dict()["p"].shape == (2, 3)
    for bad, message in [
        ({"projection": "linear"}, "use busemann"),
        ({"eps": 0.1}, "use kappa"),
        ({"optimizer": "adam"}, "optimizer: sgd"),
    ]:
        with pytest.raises(ValidationError, match=message):
            BALL.Config(**bad)  # fmt: skip
    with pytest.raises(ValueError, match="d >= 2"):
        BusemannProjections(1)
