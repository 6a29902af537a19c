"""Sphere helpers for ideal points: vMF sampler (Wood), A_d(kappa), geoopt's Sphere SGD step."""

from __future__ import annotations

import geoopt
import numpy as np
import pytest
import torch
from scipy import stats

from sliceflow.manifolds.sphere import (
    mean_resultant_length,
    sphere_step,
    vmf_radial,
    vmf_sample,
)
from tests.helpers import sphere_points


def generators(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.mark.parametrize("d, kappa", [(2, 0.5), (2, 400.0), (3, 10.0), (5, 2.0), (10, 50.0)])
def test_vmf_mean_resultant_length_matches_bessel_ratio(d, kappa):
    mu = sphere_points(generators([0, 1]), 1, d)[:, 0]  # (2, d)
    draws = vmf_sample(generators([10, 11]), mu, kappa, 20000)  # (2, 20000, d)
    assert torch.allclose(draws.norm(dim=-1), torch.ones(2, 20000, dtype=torch.float64))
    w = (draws * mu[:, None]).sum(-1)  # (2, 20000)
    error = 5 * w.std(dim=1) / 20000**0.5  # 5 standard errors
    assert ((w.mean(dim=1) - mean_resultant_length(kappa, d)).abs() < error).all()
    # mean direction: the resultant points along mu
    resultant = draws.mean(dim=1)
    assert torch.allclose(resultant / resultant.norm(dim=-1, keepdim=True), mu, atol=0.05)


def test_vmf_on_the_circle_matches_scipy_von_mises_angles():
    mu = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    draws = vmf_sample(generators([3]), mu, 4.0, 20000)[0]
    angles = torch.atan2(draws[:, 1], draws[:, 0]).numpy()
    assert stats.kstest(angles, stats.vonmises(kappa=4.0).cdf).pvalue > 1e-3


def test_mean_resultant_length_limits():
    assert mean_resultant_length(1e-8, 3) == pytest.approx(1e-8 / 3, rel=1e-3)  # A ~ kappa / d
    assert mean_resultant_length(1e4, 3) == pytest.approx(1 - 1 / 1e4, rel=1e-8)  # coth - 1/k


def test_vmf_draws_of_a_seed_do_not_depend_on_the_batch():
    alone = vmf_radial(generators([7]), 30.0, 3, 500)
    batch = vmf_radial(generators([2, 7, 9]), 30.0, 3, 500)
    assert torch.equal(alone[0], batch[1])
    mu = sphere_points(generators([1, 2, 3]), 1, 3)[:, 0]
    together = vmf_sample(generators([4, 5, 6]), mu, 30.0, 50)
    single = vmf_sample(generators([5]), mu[1:2], 30.0, 50)
    assert torch.equal(together[1], single[0])


def test_vmf_needs_a_sphere_of_dimension_at_least_one():
    with pytest.raises(ValueError, match="d >= 2"):
        vmf_radial(generators([0]), 1.0, 1, 10)


def test_dgswp_ball_sphere_step_equals_geoopt_riemannian_sgd():
    p = sphere_points(generators([0, 1, 2]), 1, 4)[:, 0]
    grad = torch.randn(3, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    tangent = grad - (grad * p).sum(-1, keepdim=True) * p  # the score estimator is tangent
    point = geoopt.ManifoldParameter(p.clone(), manifold=geoopt.Sphere())
    optimizer = geoopt.optim.RiemannianSGD([point], lr=0.3, stabilize=1)
    point.grad = grad.clone()
    optimizer.step()
    moved = torch.from_numpy(sphere_step(p.numpy(), tangent.numpy(), 0.3))
    assert torch.allclose(moved, point.detach(), atol=1e-14)
    assert torch.allclose(moved.norm(dim=-1), torch.ones(3, dtype=torch.float64))


def test_random_sphere_points_are_uniform_enough():
    points = sphere_points(generators([0]), 20000, 3)[0].numpy()
    assert np.abs(points.mean(axis=0)).max() < 0.03
    assert np.allclose(points.T @ points / 20000, np.eye(3) / 3, atol=0.02)
