"""Exact traces: agreement with ot.emd2, never a silently wrong value; quartiles."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from sliceflow.manifolds import Euclidean
from sliceflow.ot import exact as exact_module
from sliceflow.ot.exact import emd2_checked, emd_checked, exact_plan, exact_w2sq, exact_w2sq_batch
from sliceflow.rundir import quartiles_log10


def test_assignment_path_equals_emd2():
    rng = np.random.RandomState(0)
    for _ in range(5):
        x, y = rng.randn(50, 2), rng.randn(50, 2) + 1
        cost = ot.dist(x, y)
        assert exact_w2sq(cost) == pytest.approx(ot.emd2([], [], cost), rel=1e-12, abs=1e-15)


def test_unequal_sizes_use_pot():
    rng = np.random.RandomState(1)
    cost = ot.dist(rng.randn(30, 2), rng.randn(45, 2))
    assert exact_w2sq(cost) == pytest.approx(ot.emd2([], [], cost), rel=1e-12)


def test_iteration_limit_is_raised_not_ignored(caplog):
    rng = np.random.RandomState(2)
    cost = ot.dist(rng.randn(200, 2), rng.randn(200, 2))
    with caplog.at_level("WARNING", logger="sliceflow"):
        value = emd2_checked(cost, max_iter=10)  # far too few: POT stops early, we retry
    assert value == pytest.approx(ot.emd2([], [], cost, numItermax=10**7), rel=1e-12)
    assert "numItermax" in caplog.text


def test_plan_iteration_limit_is_raised_not_ignored(caplog):
    rng = np.random.RandomState(2)
    cost = ot.dist(rng.randn(200, 2), rng.randn(150, 2))
    with caplog.at_level("WARNING", logger="sliceflow"):
        plan = emd_checked(cost, max_iter=10)  # POT's plan at 10 iterations is not optimal
    assert float((plan * cost).sum()) == pytest.approx(ot.emd2([], [], cost), rel=1e-12)
    assert "ot.emd reached numItermax" in caplog.text


@pytest.mark.parametrize(
    ("n", "m", "solver"), [(40, 40, "auto"), (40, 40, "pot"), (30, 45, "auto")]
)
def test_exact_plan_is_a_sparse_optimal_plan_with_uniform_marginals(n, m, solver):
    rng = np.random.RandomState(3)
    cost = ot.dist(rng.randn(n, 2), rng.randn(m, 2) + 1)
    rows, cols, mass = exact_plan(cost, solver)
    assert len(rows) <= n + m - 1  # a vertex of the transport polytope
    np.testing.assert_allclose(np.bincount(rows, mass, n), 1 / n, rtol=1e-12)
    np.testing.assert_allclose(np.bincount(cols, mass, m), 1 / m, rtol=1e-12)
    assert (mass * cost[rows, cols]).sum() == pytest.approx(ot.emd2([], [], cost), rel=1e-12)


def test_batch_trace_matches_direct_emd2_per_seed():
    x = torch.randn(3, 20, 2, generator=torch.Generator().manual_seed(0))
    y = torch.randn(3, 20, 2, generator=torch.Generator().manual_seed(1))
    values = exact_w2sq_batch(x, y, Euclidean())
    for i in range(3):
        direct = ot.emd2([], [], ot.dist(x[i].double().numpy(), y[i].double().numpy()))
        assert values[i] == pytest.approx(direct, rel=1e-10)


def test_non_finite_particles_give_inf():
    assert math.isinf(exact_w2sq(np.array([[np.nan, 1.0], [1.0, 1.0]])))


def test_quartiles_ignore_and_count_diverged_seeds():
    n_seeds, n_div, q25, med, q75 = quartiles_log10(np.array([1.0, 10.0, 100.0, np.inf]))
    assert (n_seeds, n_div) == (4, 1)
    assert (q25, med, q75) == pytest.approx((0.5, 1.0, 1.5))


@pytest.mark.parametrize("n", [30, 150])
def test_auto_uses_the_assignment_solver_only_for_small_equal_sizes(monkeypatch, n):
    rng = np.random.RandomState(n)
    cost = ot.dist(rng.randn(n, 2), rng.randn(n, 2))
    expected = ot.emd2([], [], cost, numItermax=10**7)
    calls = []
    original = exact_module.linear_sum_assignment
    monkeypatch.setattr(exact_module, "linear_sum_assignment",
                        lambda c: calls.append(c.shape) or original(c))  # fmt: skip
    assert exact_w2sq(cost, "auto") == pytest.approx(expected, rel=1e-12)
    assert bool(calls) == (n <= exact_module.ASSIGNMENT_MAX_N)
    for solver in ("pot", "assignment"):
        assert exact_w2sq(cost, solver) == pytest.approx(expected, rel=1e-12)


def test_a_slow_batch_of_exact_traces_reports_its_progress(monkeypatch):
    monkeypatch.setattr(exact_module, "SLOW_SECONDS", 0.0)
    x = torch.randn(3, 10, 2, generator=torch.Generator().manual_seed(0))
    notes = []
    exact_w2sq_batch(x, x + 1, Euclidean(), note=notes.append)
    assert notes == ["exact W2^2 1/3", "exact W2^2 2/3", "exact W2^2 3/3"]
    monkeypatch.setattr(exact_module, "SLOW_SECONDS", 3600.0)
    exact_w2sq_batch(x, x + 1, Euclidean(), note=notes.append)
    assert len(notes) == 3  # a quick batch says nothing
