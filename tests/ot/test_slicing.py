"""SW maths against POT and closed forms."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import ot
import pytest
import torch

from sliceflow._kernels import policy
from sliceflow.ot.sliced._slicing import quantiles_1d, sliced_w2_projected, sliced_wasserstein2
from sliceflow.random import random_directions


def _gens(count: int, offset: int = 0):
    return [torch.Generator().manual_seed(offset + i) for i in range(count)]


@pytest.mark.parametrize("d", [2, 5])
def test_sw_equals_pot_with_same_directions(d):
    rng = np.random.RandomState(0)
    x, y = rng.randn(40, d), rng.randn(40, d) * 2 + 1
    theta = random_directions(_gens(1), 30, d, dtype=torch.float64)  # (1, L, d)
    ours = sliced_wasserstein2(torch.tensor(x)[None], torch.tensor(y)[None], theta)
    pot = ot.sliced_wasserstein_distance(x, y, projections=theta[0].T.numpy()) ** 2
    assert float(ours[0]) == pytest.approx(pot, rel=1e-12)


def test_sw_in_1d_is_w2_squared():
    rng = np.random.RandomState(1)
    x, y = rng.randn(30, 1), rng.rand(30, 1) * 3
    theta = torch.ones(1, 1, 1, dtype=torch.float64)
    ours = sliced_wasserstein2(torch.tensor(x)[None], torch.tensor(y)[None], theta)
    assert float(ours[0]) == pytest.approx(ot.emd2_1d(x[:, 0], y[:, 0]), rel=1e-12)


def test_sw_of_a_translation_is_t_squared_over_d():
    """SW2^2(mu, mu + t) = E_theta <theta, t>^2 = |t|^2 / d."""
    d = 3
    x = torch.randn(1, 64, d, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    theta = random_directions(_gens(1), 200_000, d, dtype=torch.float64)
    value = float(sliced_wasserstein2(x, x + t, theta)[0])
    assert value == pytest.approx(float(t.square().sum()) / d, rel=0.01)


def test_unequal_sizes_match_pot_1d_when_one_divides_the_other():
    rng = np.random.RandomState(2)
    x, y = rng.randn(20, 1), rng.randn(60, 1) + 1
    theta = torch.ones(1, 1, 1, dtype=torch.float64)
    ours = sliced_wasserstein2(torch.tensor(x)[None], torch.tensor(y)[None], theta)
    assert float(ours[0]) == pytest.approx(ot.emd2_1d(x[:, 0], y[:, 0]), rel=1e-10)


def test_quantiles_are_a_sort_for_equal_sizes():
    values = torch.randn(2, 7, 3)
    assert torch.equal(quantiles_1d(values, 7), values.sort(dim=1).values)


def test_seed_batches_are_independent_of_their_companions():
    alone = random_directions(_gens(1, offset=4), 5, 3, dtype=torch.float32)
    batch = random_directions(_gens(6), 5, 3, dtype=torch.float32)
    assert torch.equal(alone[0], batch[4])


def _linear(z: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    return torch.bmm(theta, z.transpose(1, 2))  # (S, L, n)


@pytest.mark.parametrize("n,m", [(40, 40), (30, 90)])
@pytest.mark.parametrize("large", [False, True])
def test_projected_sw_with_linear_slices_is_sw_for_small_and_large_clouds(n, m, large, monkeypatch):
    """One entry for every size: with a linear projection, the batched path and the chunked one
    (forced here) give the batched SW_2^2 and its gradients."""
    g = torch.Generator().manual_seed(n + m)
    x = torch.randn(2, n, 3, generator=g, dtype=torch.float64)
    y = torch.randn(2, m, 3, generator=g, dtype=torch.float64) + 1
    theta = random_directions(_gens(2), 25, 3, dtype=torch.float64)

    def value_and_grads(function):
        inputs = [t.clone().requires_grad_(True) for t in (x, y)]
        value = function(*inputs)
        return (value.detach(), *torch.autograd.grad(value.sum(), inputs))

    reference = value_and_grads(lambda a, b: sliced_wasserstein2(a, b, theta))
    if large:
        monkeypatch.setattr(policy, "POLICY", replace(policy.POLICY, large_points=10))
    ours = value_and_grads(lambda a, b: sliced_w2_projected(a, b, theta, _linear))
    for found, expected in zip(ours, reference, strict=True):
        assert torch.allclose(found, expected, rtol=1e-12, atol=1e-14)
