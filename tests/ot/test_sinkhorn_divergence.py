"""The Sinkhorn divergence between point clouds: autograd, GeomLoss, closed forms, batches."""

from __future__ import annotations

import pytest
import torch

from sliceflow.ot import sinkhorn_divergence, squared_euclidean_cost
from tests.ot.test_sinkhorn import F64, METHODS, _clouds, _relative


def _half_cost(x, y):
    return squared_euclidean_cost(x, y) / 2


@pytest.mark.parametrize("method", METHODS)
def test_divergence_unrolled_equals_autograd_in_the_points(method):
    # covers the symmetric (debiasing) iteration and its reverse sweep
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, 7, 2, generator=generator, dtype=F64)
    y = torch.randn(2, 5, 2, generator=generator, dtype=F64) + 1
    grads = {}
    for gradient in ("unrolled", "autograd"):
        points = [x.clone().requires_grad_(True), y.clone().requires_grad_(True)]
        result = sinkhorn_divergence(
            *points, 0.5, method=method, gradient=gradient, max_iter=50, tol=1e-9
        )
        grads[gradient] = torch.autograd.grad(
            (result.value * torch.tensor([1.0, 2.0])).sum(), points
        )
    for mine, theirs in zip(grads["unrolled"], grads["autograd"], strict=True):
        assert _relative(mine, theirs) <= 1e-10


def test_divergence_of_a_seed_does_not_depend_on_its_batch():
    generator = torch.Generator().manual_seed(13)
    x = torch.randn(3, 8, 2, generator=generator, dtype=F64)
    y = (
        torch.randn(3, 6, 2, generator=generator, dtype=F64)
        * torch.tensor([1.0, 3.0, 0.5])[:, None, None]
    )
    batched = sinkhorn_divergence(x, y, 0.1, scaling=0.5)
    for index in range(3):
        assert torch.equal(
            sinkhorn_divergence(x[index], y[index], 0.1, scaling=0.5).value, batched.value[index]
        )


def test_divergence_bad_inputs_raise():
    x = torch.randn(5, 2, dtype=F64)
    with pytest.raises(ValueError, match="must share"):
        sinkhorn_divergence(x, torch.randn(5, 3, dtype=F64), 0.1)
    with pytest.raises(ValueError, match="expected"):
        sinkhorn_divergence(x, x, 0.1, a=torch.full((4,), 0.25, dtype=F64))
    with pytest.raises(ValueError, match="cost"):
        sinkhorn_divergence(x, x, 0.1, cost=lambda p, q: p.sum(-1))


@pytest.mark.parametrize("debias", [True, False])
def test_divergence_equals_geomloss(debias):
    """GeomLoss anneals eps and stops as it reaches blur^2, so it is exact only as scaling -> 1.

    Measured on these clouds: its relative error is ~1e-8 on the value and ~1e-4 on the
    gradient at scaling 0.999 (about ten times less than at 0.99), hence the tolerances.
    """
    from geomloss import SamplesLoss

    x, y = _clouds(20, n=30, m=20)
    blur = 0.7
    ours_x = x.clone().requires_grad_(True)
    ours = sinkhorn_divergence(ours_x, y, blur**2, cost=_half_cost, debias=debias, tol=1e-13)
    (ours_grad,) = torch.autograd.grad(ours.value, ours_x)
    theirs_x = x.clone().requires_grad_(True)
    loss = SamplesLoss(
        "sinkhorn", p=2, blur=blur, scaling=0.999, debias=debias, backend="tensorized"
    )
    theirs = loss(theirs_x, y)
    (theirs_grad,) = torch.autograd.grad(theirs, theirs_x)
    assert bool(ours.converged)
    assert float(ours.value.detach()) == pytest.approx(float(theirs.detach()), rel=1e-7)
    assert _relative(ours_grad, theirs_grad) <= 1e-3


def test_divergence_of_a_translation_is_its_squared_length():
    """C(x, y + t) = C(x, y) - 2 <x - y, t> + |t|^2 for the squared cost; the middle term splits
    into a function of x plus one of y, which the marginal constraints turn into a constant, so
    S(x, y + t) = S(x, y) + |t|^2 - 2 <mean x - mean y, t> for every reg; S(x, x + t) = |t|^2.
    """
    x, y = _clouds(21)
    shift = torch.tensor([0.3, -0.4], dtype=F64)
    options = dict(reg=0.5, tol=1e-12, max_iter=20000)
    assert float(sinkhorn_divergence(x, x + shift, **options).value) == pytest.approx(
        0.25, rel=1e-9
    )
    moved = sinkhorn_divergence(x, y + shift, **options).value
    expected = (
        sinkhorn_divergence(x, y, **options).value + 0.25 - 2 * (x.mean(0) - y.mean(0)) @ shift
    )
    assert float(moved) == pytest.approx(float(expected), rel=1e-9)
    assert abs(float(sinkhorn_divergence(x, x, **options).value)) < 1e-12


def test_divergence_gradient_envelope_equals_unrolled_and_finite_differences():
    x, y = _clouds(22, batch=2)
    grads = {}
    for gradient in ("envelope", "unrolled"):
        points = x.clone().requires_grad_(True)
        result = sinkhorn_divergence(points, y, 0.3, gradient=gradient, tol=1e-12, max_iter=20000)
        grads[gradient] = torch.autograd.grad(result.value.sum(), points)[0]
    assert _relative(grads["envelope"], grads["unrolled"]) <= 1e-6
    direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(23), dtype=F64)
    step = 1e-5

    def value(points):
        return float(sinkhorn_divergence(points, y, 0.3, tol=1e-13, max_iter=20000).value.sum())

    numeric = (value(x + step * direction) - value(x - step * direction)) / (2 * step)
    assert float((grads["envelope"] * direction).sum()) == pytest.approx(numeric, rel=1e-6)


def test_divergence_with_epsilon_scaling_converges_to_the_same_value():
    x, y = _clouds(24, batch=2)
    plain = sinkhorn_divergence(x, y, 0.1, tol=1e-10, max_iter=5000)
    annealed = sinkhorn_divergence(x, y, 0.1, tol=1e-10, max_iter=5000, scaling=0.5)
    assert bool(plain.converged.all()) and bool(annealed.converged.all())
    assert torch.allclose(annealed.value, plain.value, rtol=1e-7)
    assert bool((annealed.xy.n_iter < plain.xy.n_iter).all())
