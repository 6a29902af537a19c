"""The ball family with the authors' code's Gaussian perturbations (``perturbation: gaussian``):
plan costs at the unnormalised ``p + eps Z`` against a direct computation, Stein's estimator
projected on the sphere, batching, and the config rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from sliceflow.flows import get_flow
from sliceflow.manifolds.poincare.math import squared_geodesic_cost
from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver, GaussianBusemannProjections
from sliceflow.random import randn, random_directions
from tests.helpers import ball_points, make_flow

BALL = get_flow("dgswp", "poincare")


def gens(seeds):
    return [torch.Generator().manual_seed(90 + s) for s in seeds]


def ball_clouds(seeds, n=20, m=20, d=3):
    x = torch.stack([ball_points((n, d), radius=0.7, seed=s) for s in seeds])
    y = torch.stack([ball_points((m, d), radius=0.5, seed=70 + s) + 0.2 for s in seeds])
    return x, y


def gaussian_solver(seeds, d=3, eps=5.0, **changes):
    options = {"projection": "busemann", "optimizer": "sgd", "inner_lr": 0.3,
               "perturbation": "gaussian", "eps": eps} | changes  # fmt: skip
    return DGSWPSolver.from_config(DGSWPConfig(**options), d, gens(seeds), dtype=torch.float64,
                                   curvature=1.0)  # fmt: skip


def direct_plan_cost(q, x, y):
    """Cost of the plan that sorts ``log(|q - x|^2 / (1 - |x|^2))`` at q as given (no
    renormalisation), squared geodesic distances of the matched points: q (d,), x (n, d)."""

    def order(points):
        values = np.log(np.square(q - points).sum(-1) / (1 - np.square(points).sum(-1)))
        return np.argsort(values)

    cost = squared_geodesic_cost(torch.from_numpy(x)[None], torch.from_numpy(y)[None])[0]
    return float(cost.numpy()[order(x), order(y)].mean())


def test_one_step_perturbs_off_the_sphere_and_projects_steins_estimate():
    x, y = ball_clouds([0])
    solver = gaussian_solver([0], n_perturbations=6)
    assert isinstance(solver.family, GaussianBusemannProjections)
    generators = gens([0])
    p0 = random_directions(generators, 1, 3, dtype=torch.float64)[0, 0].numpy()
    assert np.array_equal(solver.params[0].numpy(), p0)
    perturbation = solver.perturb(solver.prepare(x, y))
    z = randn(generators, (6, 3), dtype=torch.float64)[0].numpy()  # the same draws
    assert np.array_equal(perturbation.draws[0], z)
    xs, ys = x[0].numpy(), y[0].numpy()
    candidates = [p0] + [p0 + 5.0 * z[k] for k in range(6)]
    expected = [direct_plan_cost(q, xs, ys) for q in candidates]
    np.testing.assert_allclose(perturbation.costs[0].numpy(), expected, rtol=1e-12)
    # the perturbed points are used as they are: renormalising them changes some plans
    normalised = [direct_plan_cost(q / np.linalg.norm(q), xs, ys) for q in candidates[1:]]
    assert not np.allclose(expected[1:], normalised, rtol=1e-9)
    h = perturbation.costs[0].numpy()
    euclidean = ((h[1:] - h[0])[:, None] * z).sum(0) / (6 * 5.0)
    tangent = euclidean - (euclidean @ p0) * p0
    np.testing.assert_allclose(solver.gradient(perturbation)[0], tangent, rtol=1e-12, atol=1e-15)
    plain = gaussian_solver([0], n_perturbations=6, variance_reduction=False)
    raw = (h[1:, None] * z).sum(0) / (6 * 5.0)
    np.testing.assert_allclose(plain.gradient(perturbation)[0], raw - (raw @ p0) * p0, rtol=1e-12)
    solver.update(perturbation)
    moved = (p0 - 0.3 * tangent) / np.linalg.norm(p0 - 0.3 * tangent)
    np.testing.assert_allclose(solver.params[0].numpy(), moved, rtol=1e-13, atol=1e-14)


def test_a_seed_alone_equals_the_same_seed_in_a_batch_and_fits_descend():
    seeds = [0, 3, 8]
    x, y = ball_clouds(seeds, 18, 11)
    batch = gaussian_solver(seeds, eps=1.0)
    start = batch.cost(batch.prepare(x, y)).clone()
    batch.fit(x, y, 40)
    assert torch.allclose(batch.params.norm(dim=-1), torch.ones(3, dtype=torch.float64))
    assert float(batch.cost(batch.prepare(x, y)).mean()) < float(start.mean())
    for i, seed in enumerate(seeds):
        alone = gaussian_solver([seed], eps=1.0)
        alone.fit(x[i : i + 1], y[i : i + 1], 40)
        assert torch.equal(alone.params[0], batch.params[i])


def test_the_config_keeps_vmf_by_default_and_takes_eps_only_with_gaussian():
    assert BALL.Config().perturbation == "vmf"
    config = BALL.Config(perturbation="gaussian", eps=5.0)
    assert BALL.Config(**config.model_dump()) == config
    for bad, message in [
        ({"perturbation": "gaussian", "kappa": 50.0}, "use eps"),
        ({"eps": 5.0}, "perturbation: gaussian"),
        ({"perturbation": "uniform"}, "perturbation"),
    ]:
        with pytest.raises(ValidationError, match=message):
            BALL.Config(**bad)
    with pytest.raises(ValidationError, match="always perturbed by Gaussian noise"):
        DGSWPConfig(projection="mlp", perturbation="gaussian")


def test_the_ball_flow_runs_the_authors_perturbation():
    flow = make_flow("dgswp", "poincare", seeds=[0, 1], n=20, m=20, inner_steps=5,
                     perturbation="gaussian", eps=5.0)  # fmt: skip
    x, y = ball_clouds([0, 1], d=2)
    p = flow.p.clone()
    flow.inner_update(x, y)
    assert not torch.equal(flow.p, p) and torch.isfinite(flow.loss(x, y)).all()
