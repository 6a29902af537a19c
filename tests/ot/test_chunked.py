"""Chunked sliced transport (large clouds) against the batched code, POT and NumPy."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np
import ot
import pytest
import torch

from sliceflow._kernels import policy
from sliceflow._kernels.chunked import (
    sliced_w2_projected_chunked,
    sliced_wasserstein2_chunked,
)
from sliceflow._kernels.rows import argsort_rows
from sliceflow.manifolds.poincare.math import busemann
from sliceflow.ot.sliced import (
    PlanCosts,
    min_swgg_plan,
    squared_euclidean_plan_costs,
    swgg_orders,
)
from sliceflow.ot.sliced._slicing import sliced_wasserstein2, wasserstein2_1d
from sliceflow.random import random_directions


@pytest.fixture(params=["one direction per chunk", "several"])
def chunking(request, monkeypatch):
    """Force both layouts of the chunked code on small clouds: one direction per chunk with one
    row per sort, or chunks of several directions sorted in blocks of rows."""
    sizes = (1, 1) if request.param == "one direction per chunk" else (4000, 1500)
    table = replace(policy.POLICY, chunk_values=sizes[0], sort_values=sizes[1])
    monkeypatch.setattr(policy, "POLICY", table)


def _problem(n, m, dtype, seeds=2, d=3, n_slices=23):
    g = torch.Generator().manual_seed(n + m)
    x = torch.randn(seeds, n, d, generator=g, dtype=dtype)
    y = torch.randn(seeds, m, d, generator=g, dtype=dtype) * 2 + 1
    theta = random_directions([torch.Generator().manual_seed(s) for s in range(seeds)],
                              n_slices, d, dtype=dtype)  # fmt: skip
    return x, y, theta


def test_packed_argsort_is_the_stable_argsort_with_ties_signs_and_infinities():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 2000)).astype(np.float32)
    values[0, :50] = 0.0
    values[0, 50:60] = -0.0
    values[1] = np.round(values[1])  # many ties
    values[2, :5] = [np.inf, -np.inf, 1e-42, -1e-42, np.float32(3.4e38)]
    order = argsort_rows(values)
    # -0.0 sorts just below +0.0 (its order-preserving key); otherwise exactly the stable order.
    keyed = np.where(values == 0, np.copysign(1e-45, values), values)
    expected = np.argsort(keyed, axis=-1, kind="stable")
    assert np.array_equal(order, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n,m", [(120, 120), (60, 180), (150, 75)])
def test_chunked_sw_and_gradients_equal_the_batched_code(chunking, dtype, n, m):
    x, y, theta = _problem(n, m, dtype)
    weights = torch.tensor([1.3, -0.7], dtype=dtype)
    results = []
    for function in (sliced_wasserstein2, sliced_wasserstein2_chunked):
        inputs = [t.clone().requires_grad_(True) for t in (x, y, theta)]
        value = function(*inputs)
        results.append((value.detach(), *torch.autograd.grad((value * weights).sum(), inputs)))
    tolerance = 2e-5 if dtype == torch.float32 else 1e-12
    for ours, batched in zip(results[1], results[0], strict=True):
        assert torch.allclose(ours, batched, rtol=tolerance, atol=tolerance * batched.abs().max())


def test_large_clouds_take_the_chunked_path_and_agree_with_pot():
    n = policy.POLICY.large_points
    x, y, theta = _problem(n, n, torch.float64, seeds=1, n_slices=7)
    ours = float(sliced_wasserstein2(x, y, theta)[0])
    pot = ot.sliced_wasserstein_distance(x[0].numpy(), y[0].numpy(),
                                         projections=theta[0].T.numpy()) ** 2  # fmt: skip
    assert ours == pytest.approx(pot, rel=1e-12)


def test_a_seed_alone_equals_the_seed_in_a_batch(chunking):
    x, y, theta = _problem(90, 90, torch.float32, seeds=3)
    batch = sliced_wasserstein2_chunked(x, y, theta)
    alone = sliced_wasserstein2_chunked(x[1:2], y[1:2], theta[1:2])
    assert torch.equal(alone[0], batch[1])


@pytest.mark.parametrize("n,m", [(100, 100), (80, 40)])
def test_chunked_busemann_slices_equal_the_batched_hhsw(chunking, n, m):
    g = torch.Generator().manual_seed(0)
    x = 0.6 * torch.rand(2, n, 3, generator=g, dtype=torch.float64) - 0.3
    y = 0.5 * torch.rand(2, m, 3, generator=g, dtype=torch.float64) - 0.1
    p = random_directions([torch.Generator().manual_seed(s) for s in range(2)], 17, 3,
                          dtype=torch.float64)  # fmt: skip
    project = partial(busemann, c=1.0)
    results = []
    for function in (lambda a, b: wasserstein2_1d(project(a, p), project(b, p)),
                     lambda a, b: sliced_w2_projected_chunked(a, b, p, project)):  # fmt: skip
        inputs = [t.clone().requires_grad_(True) for t in (x, y)]
        value = function(*inputs)
        results.append((value.detach(), *torch.autograd.grad(value.sum(), inputs)))
    for ours, batched in zip(results[1], results[0], strict=True):
        assert torch.allclose(ours, batched, rtol=1e-11, atol=1e-13)


def test_cheapest_plan_is_the_min_swgg_plan_and_costs_at_least_w2(chunking, monkeypatch):
    x, y, theta = _problem(64, 64, torch.float64, seeds=2, n_slices=30)
    monkeypatch.setattr(
        policy, "POLICY", replace(policy.POLICY, large_points=64)
    )  # the chunked search, on small clouds
    sigma, tau = min_swgg_plan(x, y, theta)
    costs = PlanCosts(x, y)(*swgg_orders(x, y, theta))  # (S, L): the batched min-SWGG search
    for s in range(2):
        found = float(squared_euclidean_plan_costs(x[s], y[s], sigma[s : s + 1], tau[s : s + 1]))
        assert found == pytest.approx(float(costs[s].min()), rel=1e-12)
        exact = ot.emd2([], [], ot.dist(x[s].numpy(), y[s].numpy()))
        assert found >= exact - 1e-12
