"""DGSWP: plan costs, the Stein estimator, keep-best, batching, persistence."""

from __future__ import annotations

import dataclasses

import numpy as np
import ot
import pytest
import torch

from sliceflow.flows import get_flow
from sliceflow.flows.base import FlowContext
from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.ot.sliced._plans import PlanCosts
from sliceflow.ot.sliced._projections import evaluate, init_parameters, stein_gradient
from sliceflow.ot.sliced._slicing import argsort_rows as order
from tests.helpers import clouds, make_context

DGSWP = get_flow("dgswp")


def small(projection, **changes):
    return DGSWP.Config(**({"projection": projection, "hidden": 16, "inner_steps": 5} | changes))


@pytest.mark.parametrize("projection", ["linear", "mlp"])
def test_value_is_the_cost_of_the_induced_plan_and_bounds_w2(projection):
    x, y = clouds([0, 1])
    flow = DGSWP(small(projection), make_context([0, 1]))
    flow.inner_update(x, y)
    value = flow.loss(x, y)
    params = flow.params.unsqueeze(1)
    sigma = order(evaluate(projection, params, x, 16))[:, 0]  # (S, n)
    tau = order(evaluate(projection, params, y, 16))[:, 0]
    for s in range(2):
        xn, yn = x[s].numpy(), y[s].numpy()
        plan = np.zeros((30, 30))
        plan[sigma[s].numpy(), tau[s].numpy()] = 1 / 30
        assert value[s].item() == pytest.approx(float((plan * ot.dist(xn, yn)).sum()), rel=1e-12)
        assert value[s].item() >= ot.emd2([], [], ot.dist(xn, yn)) - 1e-12
    gram_costs = PlanCosts(x, y)(sigma.unsqueeze(1), tau.unsqueeze(1))[:, 0]
    torch.testing.assert_close(gram_costs, value, rtol=1e-12, atol=1e-12)


def test_one_dimension_linear_projection_gives_w2():
    """A linear map of R is monotone: its plan is the sorted matching (an MLP need not be)."""
    x, y = clouds([2, 3], d=1)
    flow = DGSWP(small("linear"), make_context([2, 3], d=1))
    flow.inner_update(x, y)
    value = flow.loss(x, y)
    for s in range(2):
        w2 = ot.emd2([], [], ot.dist(x[s].numpy(), y[s].numpy()))
        assert value[s].item() == pytest.approx(w2, rel=1e-10)


def smoothed_costs(projection, params, x, y, z, eps):
    """h(params + eps z_k) for each row z_k: params (P,), z (K, P) -> (K,) (one seed)."""
    models = (params + eps * z).unsqueeze(0)  # (1, K, P)
    sigma = order(evaluate(projection, models, x, 16))
    tau = order(evaluate(projection, models, y, 16))
    return PlanCosts(x, y)(sigma, tau)[0]


@pytest.mark.parametrize("projection", ["linear", "mlp"])
def test_stein_estimate_agrees_with_finite_difference_of_the_smoothed_cost(projection):
    """Mean Stein estimate . v versus the central difference of h_eps along v.

    Both use the same 40000 Gaussian draws (common random numbers). Asserted: same sign, and
    the two slopes within 4 standard errors of the Monte-Carlo mean (the estimator is unbiased
    for the gradient of the smoothed cost); v is the first of a few random directions whose
    slope is clearly non-zero.
    """
    torch.manual_seed(0)  # test-only draws
    x, y = clouds([4], n=20)
    gens = [torch.Generator().manual_seed(4)]
    params = init_parameters(projection, 2, 16, gens, dtype=torch.float64, device="cpu")[0]
    eps, draws, delta = 0.3, 40000, 0.02
    z = torch.randn(draws, params.numel(), dtype=torch.float64)
    with_origin = torch.cat([torch.zeros(1, params.numel()), z])
    h = smoothed_costs(projection, params, x, y, with_origin, eps)
    estimate = stein_gradient(h.unsqueeze(0), z.unsqueeze(0), eps)[0]
    for _ in range(10):
        v = torch.nn.functional.normalize(torch.randn(params.numel(), dtype=torch.float64), dim=0)
        plus = smoothed_costs(projection, params + delta * v, x, y, z, eps).mean()
        minus = smoothed_costs(projection, params - delta * v, x, y, z, eps).mean()
        slope = ((plus - minus) / (2 * delta)).item()
        terms = (h[1:] - h[0]) / eps * (z @ v)  # (draws,): the estimator's samples along v
        standard_error = (terms.std() / draws**0.5).item()
        if standard_error < 0.25 * abs(slope):  # a direction where the check has power
            break
    assert standard_error < 0.25 * abs(slope)
    assert (estimate @ v).item() * slope > 0
    assert abs((estimate @ v).item() - slope) < 4 * standard_error


def test_inner_loop_descends_the_plan_cost():
    """Median over 20 seeds of h after 100 inner steps (eps 0.05, N 10) is below its start."""
    seeds = list(range(20))
    x, y = clouds(seeds)
    flow = DGSWP(DGSWP.Config(projection="linear", inner_steps=100), make_context(seeds))
    before = flow.loss(x, y)
    flow.inner_update(x, y)
    assert flow.loss(x, y).median() < 0.95 * before.median()


@pytest.mark.parametrize("projection", ["linear", "mlp"])
def test_keep_best_keeps_a_copy_of_the_lowest_iterate(projection):
    """Replays the inner loop one step at a time (same draws, same Adam) and records h."""
    seeds = [5, 6, 7]
    x, y = clouds(seeds)
    config = small(projection, inner_steps=20)
    best_flow = DGSWP(config.model_copy(update={"keep_best": True}), make_context(seeds))
    best_flow.inner_update(x, y)
    replay = DGSWP(config.model_copy(update={"inner_steps": 1}), make_context(seeds))
    iterates, costs = [], []
    for step in range(21):
        iterates.append(replay.params.clone())
        costs.append(replay.loss(x, y))
        if step < 20:
            replay.inner_update(x, y)
    costs = torch.stack(costs, 1)  # (S, 21)
    lowest = costs.min(dim=1).values
    for s in range(3):  # equal costs (ties of a piecewise-constant h): any of them is the best
        ties = (costs[s] <= lowest[s] + 1e-12).nonzero().flatten().tolist()
        assert any(torch.equal(best_flow.params[s], iterates[k][s]) for k in ties)
    torch.testing.assert_close(best_flow.loss(x, y), lowest, rtol=1e-12, atol=1e-12)
    assert (costs.argmin(dim=1) != 20).any()  # the test would be empty if the last were best


def test_unequal_sizes_are_refused():
    gens = [torch.Generator()]
    context = FlowContext(1, 30, 40, 2, torch.float64, torch.device("cpu"), Euclidean(), gens)
    with pytest.raises(ValueError, match="as many particles"):
        DGSWP(DGSWP.Config(), context)


def test_low_rank_values_equal_explicit_perturbed_models():
    """Xi_k = Z_k Q reproduces the values of the explicitly perturbed MLPs."""
    from sliceflow.ot.sliced._projections import LowRankMLPSmoothing

    x, y = clouds([8], n=6, d=20)  # d + 1 = 21 > n + m = 12
    points = torch.cat([x, y], 1)
    gens = [torch.Generator().manual_seed(8)]
    params = init_parameters("mlp", 20, 16, gens, dtype=torch.float64, device="cpu")
    smoothing = LowRankMLPSmoothing(points, 16)
    z = torch.randn(1, 3, params.shape[1], dtype=torch.float64)
    first = z[..., : 16 * 21].reshape(1, 3, 16, 21)
    draws = {
        "xi": first @ smoothing.basis.unsqueeze(1),  # (1, 3, 16, 12)
        "second": z[..., 16 * 21 : 16 * 22],
        "bias": z[..., -1],
        "rest": torch.zeros(1, 16, 21, dtype=torch.float64),
    }
    models = torch.cat([params.unsqueeze(1), params.unsqueeze(1) + 0.1 * z], 1)
    expected = evaluate("mlp", models, points, 16)
    torch.testing.assert_close(smoothing.values(params, draws, 0.1), expected)


def test_low_rank_stein_gradient_has_the_same_law_as_the_explicit_one():
    """Mean and mean square of the estimate along fixed directions: low-rank vs explicit draws
    (600 estimates each, N = 10), within 4 standard errors of the difference."""
    seeds = [11]
    x, y = clouds(seeds, n=8, d=30)
    config = DGSWP.Config(projection="mlp", hidden=8, inner_steps=1, eps=0.3)
    flow = DGSWP(config, make_context(seeds, n=8, d=30))
    low_rank = flow.solver.prepare(x, y)
    assert low_rank.smoothing is not None  # d + 1 > n + m: the flow samples in the span
    fixed = {True: low_rank, False: dataclasses.replace(low_rank, smoothing=None)}
    directions = torch.randn(flow.params.shape[1], 3, dtype=torch.float64)
    directions[:, 0] = flow.params[0]  # includes a direction where the mean is clearly non-zero
    samples = {True: [], False: []}
    for _ in range(600):
        for low in (True, False):
            perturbation = flow.solver.perturb(fixed[low])
            grad = flow.solver.gradient(perturbation)
            samples[low].append(grad[0] @ directions)
    for moment in (1, 2):
        a = torch.stack(samples[True]) ** moment
        b = torch.stack(samples[False]) ** moment
        gap = a.mean(0) - b.mean(0)
        error = ((a.var(0) + b.var(0)) / 600).sqrt()
        assert (gap.abs() < 4 * error).all(), (moment, gap, error)
