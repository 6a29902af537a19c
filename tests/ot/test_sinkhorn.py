"""Sinkhorn maths against autograd, finite differences, POT, GeomLoss and closed forms."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from sliceflow.ot import sinkhorn, squared_euclidean_cost

F64 = torch.float64
METHODS = ["log", "vanilla"]


def _problem(seed: int, n: int = 6, m: int = 5, batch: int | None = None, scale: float = 1.0):
    """Random positive weights and a cost from points (batched when ``batch`` is given)."""
    generator = torch.Generator().manual_seed(seed)
    shape = () if batch is None else (batch,)
    x = torch.randn(*shape, n, 2, generator=generator, dtype=F64)
    y = torch.randn(*shape, m, 2, generator=generator, dtype=F64) + 0.5
    cost = scale * squared_euclidean_cost(x, y)
    a = torch.rand(*shape, n, generator=generator, dtype=F64) + 0.5
    b = torch.rand(*shape, m, generator=generator, dtype=F64) + 0.5
    return a / a.sum(-1, keepdim=True), b / b.sum(-1, keepdim=True), cost


def _relative(u: torch.Tensor, v: torch.Tensor) -> float:
    return float((u - v).norm() / v.norm())


def _centred(t: torch.Tensor) -> torch.Tensor:
    return t - t.mean(-1, keepdim=True)


def _gradients(a, b, cost, reg, loss_of, **options):
    """Gradients of ``loss_of(result)`` in (a, b, cost)."""
    leaves = [t.clone().requires_grad_(True) for t in (a, b, cost)]
    result = sinkhorn(*leaves, reg, **options)
    return torch.autograd.grad(loss_of(result), leaves)


def _all_outputs(result) -> torch.Tensor:
    """A loss touching every differentiable output, with unequal weights."""
    weights = torch.linspace(1.0, 2.0, result.plan.numel(), dtype=F64).view(result.plan.shape)
    return (
        result.entropic_cost.sum()
        + 0.7 * result.transport_cost.sum()
        + (weights * result.plan).sum()
        + result.f.square().sum()
        - 0.3 * result.g.sum()
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("tol", [0.0, 1e-7])
def test_unrolled_equals_autograd_through_the_same_loop(method, batch, tol):
    # tol > 0 freezes problems at different iterations within the batch
    a, b, cost = _problem(0, batch=batch)
    options = dict(method=method, max_iter=40, tol=tol)
    ours = _gradients(a, b, cost, 0.4, _all_outputs, gradient="unrolled", **options)
    reference = _gradients(a, b, cost, 0.4, _all_outputs, gradient="autograd", **options)
    for mine, theirs in zip(ours, reference, strict=True):
        assert _relative(mine, theirs) <= 1e-10


def _naive_loop(a, b, cost, reg, n_iter, method):
    """Textbook iterations, unbatched, no stopping rule: an independent reference."""
    if method == "vanilla":
        kernel, v = torch.exp(-cost / reg), torch.ones_like(b)
        for _ in range(n_iter):
            u = a / (kernel @ v)
            v = b / (kernel.T @ u)
        return reg * u.log(), reg * v.log()
    g = torch.zeros_like(b)
    for _ in range(n_iter):
        f = reg * a.log() - reg * torch.logsumexp((g[None, :] - cost) / reg, dim=1)
        g = reg * b.log() - reg * torch.logsumexp((f[:, None] - cost) / reg, dim=0)
    return f, g


@pytest.mark.parametrize("method", METHODS)
def test_unrolled_equals_autograd_of_a_textbook_loop(method):
    a, b, cost = _problem(1)
    leaves = [t.clone().requires_grad_(True) for t in (a, b, cost)]
    f, g = _naive_loop(*leaves, 0.5, 25, method)
    loss = (f * torch.arange(6.0, dtype=F64)).sum() + g.square().sum()
    reference = torch.autograd.grad(loss, leaves)

    def loss_of(result):
        return (result.f * torch.arange(6.0, dtype=F64)).sum() + result.g.square().sum()

    ours = _gradients(a, b, cost, 0.5, loss_of, method=method, max_iter=25, tol=0.0)
    assert torch.allclose(sinkhorn(a, b, cost, 0.5, method, max_iter=25, tol=0.0).f, f.detach())
    for mine, theirs in zip(ours, reference, strict=True):
        assert _relative(mine, theirs) <= 1e-10


def test_unrolled_with_epsilon_scaling_equals_autograd():
    a, b, cost = _problem(2, batch=2, scale=3.0)
    options = dict(max_iter=60, tol=1e-8, scaling=0.7)
    ours = _gradients(a, b, cost, 0.2, _all_outputs, gradient="unrolled", **options)
    reference = _gradients(a, b, cost, 0.2, _all_outputs, gradient="autograd", **options)
    for mine, theirs in zip(ours, reference, strict=True):
        assert _relative(mine, theirs) <= 1e-10


@pytest.mark.parametrize("method", METHODS)
def test_unrolled_matches_central_finite_differences(method):
    a, b, cost = _problem(3)
    generator = torch.Generator().manual_seed(30)
    directions = [torch.randn(t.shape, generator=generator, dtype=F64) for t in (a, b, cost)]
    directions[0], directions[1] = (
        _centred(directions[0]),
        _centred(directions[1]),
    )  # stay on simplex

    def value(a, b, cost):
        return loss_of(sinkhorn(a, b, cost, 0.5, method, max_iter=30, tol=0.0))

    def loss_of(result):
        return result.entropic_cost + 0.5 * result.transport_cost

    gradients = _gradients(a, b, cost, 0.5, loss_of, method=method, max_iter=30, tol=0.0)
    step = 1e-6
    for index, (gradient, direction) in enumerate(zip(gradients, directions, strict=True)):
        plus = [t + step * direction if i == index else t for i, t in enumerate((a, b, cost))]
        minus = [t - step * direction if i == index else t for i, t in enumerate((a, b, cost))]
        numeric = float(value(*plus) - value(*minus)) / (2 * step)
        assert float((gradient * direction).sum()) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_envelope_equals_unrolled_at_convergence(method):
    a, b, cost = _problem(5, batch=2)
    options = dict(method=method, max_iter=5000, tol=1e-12)
    envelope = _gradients(
        a, b, cost, 0.5, lambda r: r.entropic_cost.sum(), gradient="envelope", **options
    )
    unrolled = _gradients(
        a, b, cost, 0.5, lambda r: r.entropic_cost.sum(), gradient="unrolled", **options
    )
    assert _relative(envelope[2], unrolled[2]) <= 1e-6  # d/dcost = P
    for weights in (0, 1):  # d/da = f, d/db = g up to a constant: compare on the simplex
        assert _relative(_centred(envelope[weights]), _centred(unrolled[weights])) <= 1e-6


def test_envelope_gradient_is_the_plan_and_the_potentials():
    a, b, cost = _problem(6)
    leaves = [t.clone().requires_grad_(True) for t in (a, b, cost)]
    result = sinkhorn(*leaves, 0.5, gradient="envelope", tol=1e-12, max_iter=5000)
    grad_a, grad_b, grad_cost = torch.autograd.grad(result.entropic_cost, leaves)
    assert torch.equal(grad_cost, result.plan)
    assert torch.equal(grad_a, result.f) and torch.equal(grad_b, result.g)
    assert not result.plan.requires_grad and not result.transport_cost.requires_grad


@pytest.mark.parametrize("method", METHODS)
def test_plan_and_values_equal_pot(method):
    a, b, cost = _problem(7, n=9, m=7)
    ours = sinkhorn(a, b, cost, 0.3, method, tol=1e-13, max_iter=20000)
    arrays = [t.numpy() for t in (a, b, cost)]
    options = dict(stopThr=1e-15, numItermax=20000)
    for solver in (ot.sinkhorn, ot.bregman.sinkhorn_log, ot.bregman.sinkhorn_stabilized):
        np.testing.assert_allclose(ours.plan.numpy(), solver(*arrays, 0.3, **options), atol=1e-12)
    pot_value = ot.sinkhorn2(*arrays, 0.3, method="sinkhorn_log", **options)
    assert float(ours.transport_cost) == pytest.approx(float(pot_value), rel=1e-11)
    assert bool(ours.converged)


def test_objectives_follow_their_definitions():
    a, b, cost = _problem(8, batch=2)
    result = sinkhorn(a, b, cost, 0.4, tol=1e-12, max_iter=5000)
    plan = result.plan
    entropic = (plan * cost).sum((1, 2)) + 0.4 * (plan * (plan.log() - 1)).sum((1, 2))
    assert torch.allclose(result.entropic_cost, entropic, rtol=1e-12)
    assert torch.allclose(result.transport_cost, (plan * cost).sum((1, 2)), rtol=1e-13)
    dual = (result.f * a).sum(1) + (result.g * b).sum(1)  # = entropic + reg at convergence
    assert torch.allclose(dual, result.entropic_cost + 0.4, rtol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_plan_marginals(method):
    a, b, cost = _problem(9, batch=3)
    result = sinkhorn(a, b, cost, 0.3, method, tol=1e-9, max_iter=5000)
    assert torch.allclose(result.plan.sum(1), b, atol=1e-14)  # exact after the v update
    row_error = torch.linalg.vector_norm(result.plan.sum(2) - a, dim=1)
    assert torch.allclose(row_error, result.marginal_error, rtol=1e-6, atol=1e-15)
    assert bool((result.marginal_error < 1e-9).all()) and bool(result.converged.all())


def test_vanilla_underflow_raises_and_names_the_log_method():
    # a constant shift of the cost leaves the plan unchanged but makes exp(-C/reg) underflow
    a, b, cost = _problem(10)
    with pytest.raises(ValueError, match='method="log"'):
        sinkhorn(a, b, cost + 800.0, 1.0, "vanilla")
    shifted = sinkhorn(a, b, cost + 800.0, 1.0, "log", tol=1e-12)
    plain = sinkhorn(a, b, cost, 1.0, "vanilla", tol=1e-12)
    assert torch.allclose(shifted.plan, plain.plan, rtol=1e-10, atol=0)
    assert float(shifted.transport_cost) == pytest.approx(float(plain.transport_cost) + 800)


def test_non_convergence_is_flagged():
    a, b, cost = _problem(11, batch=2)
    result = sinkhorn(a, b, cost, 0.05, max_iter=3, tol=1e-12)
    assert not bool(result.converged.any())
    assert result.n_iter.tolist() == [3, 3]
    assert bool((result.marginal_error > 1e-12).all())


@pytest.mark.parametrize("method", METHODS)
def test_a_problem_gives_the_same_result_alone_or_in_a_batch(method):
    a, b, cost = _problem(12, batch=3)
    cost[1] *= 4  # a slower problem: the others freeze while it runs on
    batched = sinkhorn(a, b, cost, 0.5, method, tol=1e-9)
    assert len(set(batched.n_iter.tolist())) > 1
    for index in range(3):
        alone = sinkhorn(a[index], b[index], cost[index], 0.5, method, tol=1e-9)
        assert torch.equal(alone.plan, batched.plan[index])
        assert torch.equal(alone.f, batched.f[index]) and torch.equal(
            alone.n_iter, batched.n_iter[index]
        )


def test_results_are_deterministic():
    a, b, cost = _problem(14, batch=2)
    first = _gradients(a, b, cost, 0.3, _all_outputs, max_iter=50)
    second = _gradients(a, b, cost, 0.3, _all_outputs, max_iter=50)
    assert all(torch.equal(u, v) for u, v in zip(first, second, strict=True))


def test_unbatched_in_unbatched_out():
    a, b, cost = _problem(15)
    result = sinkhorn(a, b, cost, 0.5)
    assert result.plan.shape == (6, 5) and result.f.shape == (6,) and result.g.shape == (5,)
    assert (
        result.entropic_cost.dim() == 0 and result.converged.dim() == 0 and result.n_iter.dim() == 0
    )
    batched = sinkhorn(a[None], b[None], cost[None], 0.5)
    assert batched.plan.shape == (1, 6, 5) and batched.n_iter.shape == (1,)


def _bad_inputs():
    a, b, cost = _problem(16)
    return [
        ((a, b, cost, 0.0), "reg must be a positive"),
        ((a, b, cost, -1.0), "reg must be a positive"),
        ((-a, b, cost, 0.5), "negative"),
        ((a * 2, b, cost, 0.5), "must sum to 1"),
        ((a, b, cost.T, 0.5), "cost has shape"),
        ((a, b, cost[None], 0.5), "do not match"),
        ((a, b, cost.masked_fill(cost > 1, float("inf")), 0.5), "non-finite"),
        ((a.float(), b, cost, 0.5), "one dtype"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_bad_inputs_raise_one_line_value_errors(index):
    arguments, message = _bad_inputs()[index]
    with pytest.raises(ValueError, match=message) as error:
        sinkhorn(*arguments)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="exact"), "unknown method"),
        (dict(gradient="implicit"), "unknown gradient"),
        (dict(method="vanilla", scaling=0.5), 'needs method="log"'),
        (dict(scaling=1.5), "strictly between 0 and 1"),
        (dict(max_iter=0), "max_iter"),
    ],
)
def test_bad_options_raise(options, message):
    a, b, cost = _problem(17)
    with pytest.raises(ValueError, match=message):
        sinkhorn(a, b, cost, 0.5, **options)


def test_squared_euclidean_cost_equals_pot():
    x, y = _clouds(25)
    np.testing.assert_allclose(
        squared_euclidean_cost(x, y).numpy(), ot.dist(x.numpy(), y.numpy()), atol=1e-12
    )
    assert squared_euclidean_cost(x[None], y[None]).shape == (1, 12, 9)


def test_float32_agrees_with_float64():
    a, b, cost = _problem(26, batch=2)
    double = sinkhorn(a, b, cost, 0.2, tol=1e-7)
    single = sinkhorn(a.float(), b.float(), cost.float(), 0.2, tol=1e-5)
    assert single.plan.dtype == torch.float32
    assert torch.allclose(single.entropic_cost.double(), double.entropic_cost, rtol=1e-4)


def _saved_bytes(gradient: str, max_iter: int) -> int:
    storages = {}

    def pack(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    a, b, cost = _problem(27, n=40, m=30)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        sinkhorn(
            a, b, cost.requires_grad_(True), 0.5, gradient=gradient, max_iter=max_iter, tol=0.0
        )
    return sum(storages.values())


def test_memory_envelope_is_flat_and_unrolled_keeps_only_vectors():
    assert _saved_bytes("envelope", 10) == _saved_bytes("envelope", 60)
    # 50 more iterations store 50 f (n = 40), 50 g (m = 30) and 50 reg values, in float64
    assert _saved_bytes("unrolled", 60) - _saved_bytes("unrolled", 10) == 50 * (40 + 30 + 1) * 8
    assert _saved_bytes("unrolled", 60) <= 0.5 * _saved_bytes("autograd", 60)


def test_annealing_reaches_the_target_reg_before_stopping():
    # iteration k runs at max(reg, (max C - min C) / 2^(k-1)); even a tolerance that every
    # iterate meets can stop a problem only at its first iterate computed at the target reg
    a, b, cost = _problem(28, batch=2)
    reg = 0.013
    result = sinkhorn(a, b, cost, reg, scaling=0.5, tol=10.0)
    spread = cost.amax(dim=(1, 2)) - cost.amin(dim=(1, 2))
    stages = torch.ceil(torch.log2(spread / reg)).long()
    assert torch.equal(result.n_iter, 1 + stages)


def _clouds(seed: int, n: int = 12, m: int = 9, batch: int | None = None):
    generator = torch.Generator().manual_seed(seed)
    shape = () if batch is None else (batch,)
    x = torch.randn(*shape, n, 2, generator=generator, dtype=F64)
    y = torch.randn(*shape, m, 2, generator=generator, dtype=F64) * 0.7 + 1
    return x, y
