"""Functionals of the JKO flows and the Gaussian closed forms: gradients, entropies, OU law."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter, ValidationError

from sliceflow.flows.jko.functionals import (
    Functional,
    Term,
    kde_entropy_and_grad,
    kde_log_density,
    register_potential,
    sorted_projections,
    sw2_and_grad,
)
from sliceflow.ot.gaussian import (
    bures_w2sq,
    fit_gaussian,
    gaussian_entropy,
    gaussian_log_density,
    ou_law,
    sym_apply,
)
from sliceflow.ot.sliced._slicing import sliced_wasserstein2
from sliceflow.random import random_directions

F64 = torch.float64
TERMS = TypeAdapter(list[Term])


@register_potential("test_quartic")
def _quartic(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return scale * x.square().sum(-1).square()


def _terms(*items):
    return TERMS.validate_python(list(items))


@pytest.mark.parametrize("leave_one_out", [False, True])
@pytest.mark.parametrize("bandwidth", [0.3, "silverman"])
def test_kde_closed_form_gradient_matches_autograd(leave_one_out, bandwidth):
    x = torch.randn(2, 40, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    value, grad = kde_entropy_and_grad(x, bandwidth, leave_one_out)
    leaf = x.clone().requires_grad_(True)
    expected = kde_log_density(leaf, bandwidth, leave_one_out).mean(dim=1)
    (expected_grad,) = torch.autograd.grad(expected.sum(), leaf)
    torch.testing.assert_close(value, expected.detach())
    torch.testing.assert_close(grad, expected_grad)


def test_value_and_grad_matches_autograd_for_every_kind():
    d = 2
    terms = _terms(
        {"kind": "potential", "potential": "quadratic", "A": [[2, 0.5], [0.5, 1]], "b": [1, 0]},
        {
            "kind": "potential",
            "potential": "gaussian_mixture",
            "means": [[0, 0], [2, 1]],
            "std": 0.7,
        },
        {"kind": "potential", "potential": "test_quartic", "params": {"scale": 0.1}, "weight": 0.5},
        {"kind": "interaction", "kernel": "aggregation", "weight": 2.0},
        {"kind": "interaction", "kernel": "log", "weight": 0.3},
        {"kind": "entropy", "estimator": "kde", "bandwidth": 0.4},
        {"kind": "sw_target", "weight": 1.5},
    )
    functional = Functional(terms, d=d, dtype=F64)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 30, d, dtype=F64, generator=gen)
    y = torch.randn(3, 30, d, dtype=F64, generator=gen) + 1
    theta = random_directions(
        [torch.Generator().manual_seed(s) for s in range(3)], 16, d, dtype=F64
    )
    value, grad = functional.value_and_grad(x, y, theta)
    leaf = x.clone().requires_grad_(True)
    expected = functional.value(leaf, y, target_directions=theta)
    (expected_grad,) = torch.autograd.grad(expected.sum(), leaf)
    torch.testing.assert_close(value, expected.detach())
    torch.testing.assert_close(grad, expected_grad)


def test_closed_form_sw_gradient_matches_autograd_of_sliced_wasserstein2():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(2, 25, 3, dtype=F64, generator=gen), torch.randn(2, 25, 3, dtype=F64)
    theta = random_directions(
        [torch.Generator().manual_seed(s) for s in range(2)], 50, 3, dtype=F64
    )
    value, grad = sw2_and_grad(x, sorted_projections(y, theta), theta)
    leaf = x.clone().requires_grad_(True)
    expected = sliced_wasserstein2(leaf, y, theta)
    (expected_grad,) = torch.autograd.grad(expected.sum(), leaf)
    torch.testing.assert_close(value, expected.detach())
    torch.testing.assert_close(grad, expected_grad)


def test_mixture_potential_is_the_negative_log_density():
    terms = _terms({"kind": "potential", "potential": "gaussian_mixture", "means": [[1.0, -1.0]]})
    functional = Functional(terms, d=2, dtype=F64)
    x = torch.randn(1, 10, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    identity = torch.eye(2, dtype=F64)[None]
    expected = -gaussian_log_density(x, torch.tensor([[1.0, -1.0]], dtype=F64), identity)
    torch.testing.assert_close(functional.value(x), expected.mean(dim=1).to(F64))


def test_interaction_energy_of_a_ring_has_its_closed_form():
    """Uniform ring of radius R: E|z|^2 = 2 R^2, E|z|^4 = 6 R^4, so 1/2 E W = (3R^4 - 2R^2) / 4."""
    n, radius = 400, 0.7
    angles = torch.arange(n, dtype=F64) * 2 * math.pi / n
    ring = radius * torch.stack([angles.cos(), angles.sin()], dim=-1)[None]
    functional = Functional(
        _terms({"kind": "interaction", "kernel": "aggregation"}), d=2, dtype=F64
    )
    expected = (3 * radius**4 - 2 * radius**2) / 4 * n / (n - 1)  # the i = j terms are 0
    assert functional.value(ring).item() == pytest.approx(expected, rel=1e-10)


def test_kde_entropy_agrees_with_the_closed_form_gaussian_entropy():
    """-mean log rho_KDE on N(0, Sigma) samples estimates H = (d/2) log(2 pi e) + log det / 2."""
    cov = torch.tensor([[1.0, 0.4], [0.4, 0.5]], dtype=F64)
    chol = torch.linalg.cholesky(cov)
    x = torch.randn(4, 2000, 2, dtype=F64, generator=torch.Generator().manual_seed(3)) @ chol.T
    estimate = -kde_log_density(x, "silverman", leave_one_out=True).mean(dim=1)
    exact = gaussian_entropy(cov).item()
    assert estimate.mean().item() == pytest.approx(exact, abs=0.05)


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError):
        _terms({"kind": "entropy", "bandwith": 0.3})
    with pytest.raises(ValidationError):
        _terms({"kind": "potential", "potential": "quadratic", "A": [[1, 2], [2, 1]], "b": [0, 0]})
    with pytest.raises(ValidationError, match="unknown potential"):
        _terms({"kind": "potential", "potential": "nope"})
    with pytest.raises(ValidationError):
        _terms({"kind": "interaction", "kernel": "morse"})


def test_ou_law_limits_and_the_lyapunov_ode():
    drift = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=F64)
    center, mean0 = torch.tensor([1.0, -1.0], dtype=F64), torch.zeros(2, dtype=F64)
    cov0 = 0.25 * torch.eye(2, dtype=F64)
    mean, cov = ou_law(drift, center, 1.0, mean0, cov0, 0.0)
    torch.testing.assert_close((mean, cov), (mean0, cov0))
    mean, cov = ou_law(drift, center, 1.0, mean0, cov0, 200.0)
    torch.testing.assert_close((mean, cov), (center, torch.linalg.inv(drift)))
    # d Sigma / dt = -M Sigma - Sigma M + 2 D I and d mu / dt = -M (mu - b), by central differences
    t, h = 0.7, 1e-5
    (m1, c1), (m2, c2) = (
        ou_law(drift, center, 1.0, mean0, cov0, t - h),
        ou_law(drift, center, 1.0, mean0, cov0, t + h),
    )
    m, c = ou_law(drift, center, 1.0, mean0, cov0, t)
    torch.testing.assert_close(
        (c2 - c1) / (2 * h), -drift @ c - c @ drift + 2 * torch.eye(2, dtype=F64)
    )
    torch.testing.assert_close((m2 - m1) / (2 * h), -(m - center) @ drift.T)


def test_bures_distance_commuting_case_and_pot():
    import ot

    rng = np.random.RandomState(0)
    a, b = np.diag([1.0, 4.0]), np.diag([9.0, 0.25])
    m1, m2 = rng.randn(2), rng.randn(2)
    exact = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(np.diag(a)) - np.sqrt(np.diag(b))) ** 2)
    tensor = torch.tensor  # noqa: E731
    value = bures_w2sq(tensor(m1)[None], tensor(a)[None], tensor(m2)[None], tensor(b)[None])
    assert value.item() == pytest.approx(exact, rel=1e-12)
    c1, c2 = np.array([[2.0, 0.7], [0.7, 1.0]]), np.array([[0.5, -0.2], [-0.2, 1.5]])
    value = bures_w2sq(tensor(m1)[None], tensor(c1)[None], tensor(m2)[None], tensor(c2)[None])
    pot = ot.gaussian.bures_wasserstein_distance(m1, m2, c1, c2) ** 2
    assert value.item() == pytest.approx(float(pot), rel=1e-8)


def test_fit_gaussian_and_sym_apply():
    x = torch.randn(1, 5000, 2, dtype=F64, generator=torch.Generator().manual_seed(4))
    mean, cov = fit_gaussian(x * 2 + 1)
    torch.testing.assert_close(mean, torch.ones(1, 2, dtype=F64), atol=0.1, rtol=0)
    root = sym_apply(cov, torch.sqrt)
    torch.testing.assert_close(root @ root, cov)
