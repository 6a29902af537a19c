"""Fixed-support barycentres against autograd, finite differences, POT and closed forms;
Gaussian (Bures) barycentres against their closed forms."""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
import pytest
import torch

import sliceflow.ot.entropic._gibbs as gibbs
from sliceflow.ot import barycenter, bures_barycenter
from sliceflow.ot.gaussian import _root, bures_w2sq, sym_apply

F64 = torch.float64


def grid_cost(n: int) -> torch.Tensor:
    """Squared distances on n points of [0, 1]: (n, n)."""
    x = torch.linspace(0, 1, n, dtype=F64)
    return (x[:, None] - x[None]).square()


def histograms(*shape: int, seed: int = 0, floor: float = 0.0) -> torch.Tensor:
    """Random bumps on the grid, columns normalised: shape (..., n, K)."""
    gen = torch.Generator().manual_seed(seed)
    *batch, n, k = shape
    centres = torch.rand(*batch, 1, k, generator=gen, dtype=F64)
    widths = 0.05 + 0.1 * torch.rand(*batch, 1, k, generator=gen, dtype=F64)
    grid = torch.linspace(0, 1, n, dtype=F64)[:, None]
    a = torch.exp(-((grid - centres) / widths).square()) + floor
    return a / a.sum(-2, keepdim=True)


def simplex(*shape: int, seed: int = 1) -> torch.Tensor:
    w = torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64) + 0.1
    return w / w.sum(-1, keepdim=True)


def value_and_grads(A, cost, weights, reg, **options):
    """b and the gradients of a fixed nonlinear loss of b w.r.t. A, cost and weights."""
    A, cost, weights = (x.clone().requires_grad_() for x in (A, cost, weights))
    b = barycenter(A, cost, weights, reg, **options)
    target = torch.sin(1.7 * torch.arange(b.numel(), dtype=F64)).reshape(b.shape)
    ((b - target * b.mean()).square().sum() + (b * target).sum()).backward()
    return b.detach(), A.grad, cost.grad, weights.grad


def relative(x: torch.Tensor, y: torch.Tensor) -> float:
    return float((x - y).norm() / y.norm())


# Each case: A, weights, iteration options. "shared" is the dictionary-learning layout: one set of
# atoms (n, K), one row of weights per reconstruction.
CASES = {
    "fixed": (histograms(3, 16, 3), simplex(3, 3), {"max_iter": 25, "tol": None}),
    "tol": (histograms(3, 16, 3), simplex(3, 3), {"max_iter": 400, "tol": 1e-7}),
    "shared": (histograms(16, 4), simplex(5, 4), {"max_iter": 25, "tol": 0}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["parallel", "log"])
def test_unrolled_gradient_equals_autograd(method, case):
    A, weights, options = CASES[case]
    cost = grid_cost(16)
    options = {"method": method, **options}
    ours = value_and_grads(A, cost, weights, 0.03, **options)
    reference = value_and_grads(A, cost, weights, 0.03, gradient="autograd", **options)
    assert torch.equal(ours[0], reference[0])
    for got, expected in zip(ours[1:], reference[1:], strict=True):
        assert relative(got, expected) <= 1e-10


def test_unrolled_gradient_equals_autograd_on_the_exact_log_sum_exp_path(monkeypatch):
    """reg = 2e-4 on 40 bins: the shifted GEMM underflows for some columns, which fall back to an
    exact log-sum-exp; the reverse sweep must follow the same split."""
    calls = []
    exact = gibbs._exact_logsumexp
    monkeypatch.setattr(gibbs, "_exact_logsumexp", lambda *args: calls.append(1) or exact(*args))
    A = histograms(2, 40, 3, seed=3, floor=1e-4)
    options = {"method": "log", "max_iter": 30, "tol": None}
    cost, weights = grid_cost(40), simplex(2, 3)
    ours = value_and_grads(A, cost, weights, 2e-4, **options)
    reference = value_and_grads(A, cost, weights, 2e-4, gradient="autograd", **options)
    assert calls, "the exact path was not exercised"
    for got, expected in zip(ours, reference, strict=True):
        assert relative(got, expected) <= 1e-10


@pytest.mark.parametrize("method", ["parallel", "log"])
def test_gradient_equals_central_finite_differences(method):
    """Directional derivatives; the weights move along the simplex (their sum is checked)."""
    gen = torch.Generator().manual_seed(5)
    A, weights, cost = histograms(2, 12, 3, seed=4), simplex(2, 3), grid_cost(12)
    options = {"method": method, "max_iter": 20, "tol": None}
    _, a_grad, c_grad, w_grad = value_and_grads(A, cost, weights, 0.05, **options)
    w_dir = torch.randn(2, 3, generator=gen, dtype=F64)
    directions = {
        "A": (torch.randn(2, 12, 3, generator=gen, dtype=F64) * A, a_grad),
        "cost": (torch.randn(12, 12, generator=gen, dtype=F64), c_grad),
        "weights": (w_dir - w_dir.mean(-1, keepdim=True), w_grad),
    }
    step = 1e-6
    for name, (direction, grad) in directions.items():

        def loss(sign, name=name, direction=direction):
            inputs = {"A": A, "cost": cost, "weights": weights}
            inputs[name] = inputs[name] + sign * step * direction
            b = barycenter(inputs["A"], inputs["cost"], inputs["weights"], 0.05, **options)
            target = torch.sin(1.7 * torch.arange(b.numel(), dtype=F64)).reshape(b.shape)
            return float((b - target * b.mean()).square().sum() + (b * target).sum())

        numeric = (loss(1) - loss(-1)) / (2 * step)
        assert float((grad * direction).sum()) == pytest.approx(numeric, rel=1e-6, abs=1e-9), name


@pytest.mark.parametrize("iterations", [1, 7, 60])
@pytest.mark.parametrize("method", ["parallel", "log"])
def test_equals_pot_iteration_for_iteration(method, iterations):
    """ "log" = POT's sinkhorn_log, "parallel" = barycenter_stabilized without absorption, after
    the same number of iterations, up to our final normalisation. The floor keeps POT's 1e-16
    inside log(A) below 1e-12 relative."""
    A, weights, cost = histograms(30, 3, seed=6, floor=1e-3), simplex(3), grid_cost(30)
    a, m, w = A.numpy(), cost.numpy(), weights.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POT warns that stopThr=0 was not reached
        if method == "log":
            pot = ot.bregman.barycenter(a, m, 0.02, w, "sinkhorn_log", iterations, stopThr=0)
        else:
            pot = ot.bregman.barycenter_stabilized(
                a, m, 0.02, tau=1e300, weights=w, numItermax=iterations, stopThr=0
            )
    b = barycenter(A, cost, weights, 0.02, method=method, max_iter=iterations, tol=None)
    np.testing.assert_allclose(b.numpy(), pot / pot.sum(), rtol=1e-11, atol=1e-14)


def test_pot_sinkhorn_with_uniform_weights_is_one_iteration_behind():
    """POT's method="sinkhorn" initialises with one iteration (unweighted geometric mean)."""
    A, cost = histograms(30, 4, seed=7), grid_cost(30)
    weights = torch.full((4,), 0.25, dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pot = ot.bregman.barycenter(
            A.numpy(), cost.numpy(), 0.02, weights.numpy(), "sinkhorn", numItermax=9, stopThr=0
        )
    b = barycenter(A, cost, weights, 0.02, max_iter=10, tol=None)
    np.testing.assert_allclose(b.numpy(), pot / pot.sum(), rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("method", ["parallel", "log"])
def test_converged_barycentre_equals_pot_converged(method):
    A, weights, cost = histograms(30, 3, seed=8), simplex(3, seed=9), grid_cost(30)
    pot = ot.bregman.barycenter(
        A.numpy(), cost.numpy(), 0.01, weights.numpy(), "sinkhorn_log", 20000, stopThr=1e-14
    )
    result = barycenter(A, cost, weights, 0.01, method=method, tol=1e-11, return_info=True)
    assert bool(result.converged) and int(result.n_iter) < 1000
    np.testing.assert_allclose(result.barycenter.numpy(), pot, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("method", ["parallel", "log"])
def test_barycentre_sums_to_one_at_every_iteration_count(method):
    A, weights, cost = histograms(4, 20, 3), simplex(4, 3), grid_cost(20)
    for iterations in (1, 3, 50):
        b = barycenter(A, cost, weights, 0.05, method=method, max_iter=iterations, tol=None)
        assert b.shape == (4, 20)
        torch.testing.assert_close(b.sum(-1), torch.ones(4, dtype=F64), rtol=0, atol=1e-14)


def entropic_smoothing(a: torch.Tensor, cost: torch.Tensor, reg: float) -> torch.Tensor:
    """``K^T (a / K 1)``: the second marginal of the plan from ``a`` with the other scaling 1."""
    kernel = torch.exp(-cost / reg)
    return kernel.T @ (a / kernel.sum(1))


@pytest.mark.parametrize("method", ["parallel", "log"])
def test_weights_on_one_histogram_give_its_entropic_smoothing(method):
    """With w = (1, 0, 0), b = K^T U_1 and V_1 = b / K^T U_1 = 1 from the first iteration on."""
    A, cost = histograms(30, 3, seed=10), grid_cost(30)
    weights = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    b = barycenter(A, cost, weights, 0.01, method=method, tol=1e-10)
    torch.testing.assert_close(b, entropic_smoothing(A[:, 0], cost, 0.01), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reg", [3e-3, 1e-3, 3e-4, 1e-4])
def test_barycentre_of_identical_histograms_tends_to_the_histogram(reg):
    """By symmetry every V_k = 1, so b = K^T (a / K 1) exactly. With grid step h,
    ||b - a||_1 <= 2 max_i (1 - K_ii / (K 1)_i) <= 4 q / (1 - q), q = exp(-h^2 / reg): the bound
    the test uses, which vanishes as reg -> 0."""
    n = 40
    cost, a = grid_cost(n), histograms(n, 1, seed=11)[:, 0]
    A = a[:, None].repeat(1, 3)
    b = barycenter(A, cost, simplex(3), reg, method="log", tol=1e-12)
    torch.testing.assert_close(b, entropic_smoothing(a, cost, reg), rtol=1e-10, atol=1e-15)
    q = math.exp(-((1 / (n - 1)) ** 2) / reg)
    assert float((b - a).abs().sum()) <= 4 * q / (1 - q) + 1e-12


@pytest.mark.parametrize("method", ["parallel", "log"])
def test_batched_problems_are_independent(method):
    """Converged problems are frozen: each batched result equals the problem solved alone."""
    A, weights, cost = histograms(3, 20, 3, seed=12), simplex(3, 3), grid_cost(20)
    batched = barycenter(A, cost, weights, 0.02, method=method, tol=1e-8, return_info=True)
    assert len(set(batched.n_iter.tolist())) > 1  # the problems stop at different iterations
    for s in range(3):
        alone = barycenter(A[s], cost, weights[s], 0.02, method=method, tol=1e-8, return_info=True)
        assert int(alone.n_iter) == int(batched.n_iter[s])
        torch.testing.assert_close(batched.barycenter[s], alone.barycenter, rtol=1e-13, atol=0)


def test_shared_atoms_with_a_row_of_weights_per_reconstruction():
    atoms, weights, cost = histograms(20, 4, seed=13), simplex(6, 4), grid_cost(20)
    b = barycenter(atoms, cost, weights, 0.02, method="log", max_iter=25, tol=None)
    assert b.shape == (6, 20)
    for s in range(6):
        alone = barycenter(atoms, cost, weights[s], 0.02, method="log", max_iter=25, tol=None)
        torch.testing.assert_close(b[s], alone, rtol=1e-13, atol=0)


def test_convergence_is_reported_never_hidden():
    A, weights, cost = histograms(20, 3, seed=14), simplex(3), grid_cost(20)
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        short = barycenter(A, cost, weights, 0.01, max_iter=3, tol=1e-9, return_info=True)
    assert not bool(short.converged) and int(short.n_iter) == 3 and float(short.error) > 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for tol in (None, 0):
            fixed = barycenter(A, cost, weights, 0.01, max_iter=3, tol=tol, return_info=True)
            assert fixed.converged is None and int(fixed.n_iter) == 3
            torch.testing.assert_close(fixed.error, short.error, rtol=0, atol=0)
        done = barycenter(A, cost, weights, 0.01, tol=1e-9, return_info=True)
    assert bool(done.converged) and float(done.error) < 1e-9 and 3 < int(done.n_iter) < 1000


def test_small_reg_parallel_raises_and_log_copes():
    """Supports at both ends of [0, 1] with reg = 1e-3: exp(-C / reg) underflows between them."""
    A = torch.zeros(40, 2, dtype=F64)
    A[:8, 0], A[-6:, 1] = 1.0, 1.0
    weights, cost = simplex(2), grid_cost(40)
    with pytest.raises(ValueError, match="use method='log'"):
        barycenter(A, cost, weights, 1e-3, method="parallel")
    result = barycenter(A, cost, weights, 1e-3, method="log", return_info=True)
    assert bool(result.converged) and float(result.barycenter.sum()) == pytest.approx(1, abs=1e-14)


def test_empty_bins_are_exact_in_both_domains():
    A = histograms(30, 3, seed=16)
    A[:10, 0] = 0.0
    b = barycenter(A, grid_cost(30), simplex(3), 0.05, method="parallel", max_iter=40, tol=None)
    c = barycenter(A, grid_cost(30), simplex(3), 0.05, method="log", max_iter=40, tol=None)
    torch.testing.assert_close(b, c, rtol=1e-12, atol=1e-15)


def test_float32_inputs_give_float32_close_to_float64():
    A, weights, cost = histograms(20, 3, seed=17), simplex(3), grid_cost(20)
    b64 = barycenter(A, cost, weights, 0.02, method="log", tol=1e-5)
    b32 = barycenter(A.float(), cost.float(), weights.float(), 0.02, method="log", tol=1e-5)
    assert b32.dtype == torch.float32
    torch.testing.assert_close(b32.double(), b64, rtol=1e-4, atol=1e-6)


GOOD = {"A": histograms(5, 2), "cost": grid_cost(5), "weights": simplex(2), "reg": 0.1}
BAD_INPUTS = [
    ({"A": -histograms(5, 2)}, "negative entries"),
    ({"A": torch.zeros(5, 2, dtype=F64)}, "zero mass in histogram 0"),
    ({"A": torch.full((5, 2), math.nan, dtype=F64)}, "NaN"),
    ({"A": torch.ones(5, dtype=F64)}, r"shape \(n, K\) or \(S, n, K\)"),
    ({"cost": grid_cost(4)}, r"cost must have shape \(n, n\) = \(5, 5\)"),
    ({"weights": simplex(3)}, "K = 2 histograms"),
    ({"weights": torch.tensor([0.7, 0.7], dtype=F64)}, "must sum to 1"),
    ({"weights": torch.tensor([1.5, -0.5], dtype=F64)}, "nonnegative"),
    ({"weights": simplex(3, 2), "A": histograms(4, 5, 2)}, "4 problems but weights has 3 rows"),
    ({"reg": 0.0}, "reg must be a positive"),
    ({"reg": -1.0}, "reg must be a positive"),
    ({"method": "sinkhorn"}, "method must be one of parallel, log"),
    ({"gradient": "envelope"}, "gradient must be one of"),
    ({"max_iter": 0}, "max_iter must be a positive integer"),
    ({"tol": -1.0}, "tol must be None"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_inputs_raise_one_line_value_errors(change, message):
    with pytest.raises(ValueError, match=message) as error:
        barycenter(**{**GOOD, **change})
    assert "\n" not in str(error.value)


# Gaussian (Bures) barycentres


def spd(count: int, d: int, seed: int) -> torch.Tensor:
    x = torch.randn(count, d, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return x @ x.mT + 0.1 * torch.eye(d, dtype=F64)


def test_bures_barycentre_in_one_dimension_is_the_closed_form():
    variances = torch.tensor([0.5, 2.0, 4.0], dtype=F64)[:, None, None]
    means = torch.tensor([[-1.0], [0.0], [3.0]], dtype=F64)
    weights = simplex(3, seed=20)
    mean, cov = bures_barycenter(means, variances, weights)
    torch.testing.assert_close(mean, weights @ means)
    expected = (weights * variances.flatten().sqrt()).sum().square()
    torch.testing.assert_close(cov, expected.reshape(1, 1), rtol=1e-12, atol=0)


def test_bures_barycentre_of_commuting_covariances_averages_square_roots():
    gen = torch.Generator().manual_seed(21)
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=F64))
    spectra = torch.tensor([[1.0, 2.0, 0.3], [4.0, 0.5, 1.0], [0.2, 3.0, 2.0]], dtype=F64)
    covs = rotation @ torch.diag_embed(spectra) @ rotation.T
    weights = simplex(3, seed=22)
    _, cov = bures_barycenter(torch.zeros(3, 3, dtype=F64), covs, weights)
    root = rotation @ torch.diag((weights[:, None] * spectra.sqrt()).sum(0)) @ rotation.T
    torch.testing.assert_close(cov, root @ root, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(sym_apply(cov, _root), root, rtol=1e-10, atol=1e-12)


def test_bures_barycentre_minimises_the_weighted_objective():
    covs, weights = spd(4, 3, seed=23), simplex(4, seed=24)
    means = torch.randn(4, 3, generator=torch.Generator().manual_seed(25), dtype=F64)
    result = bures_barycenter(means, covs, weights, return_info=True)
    assert result.converged

    def objective(mean, cov):
        return float((weights * bures_w2sq(mean, cov, means, covs)).sum())

    best = objective(result.mean, result.cov)
    gen = torch.Generator().manual_seed(26)
    for _ in range(10):
        direction = torch.randn(3, 3, generator=gen, dtype=F64)
        cov = result.cov + 1e-3 * (direction + direction.T)
        mean = result.mean + 1e-3 * torch.randn(3, generator=gen, dtype=F64)
        assert objective(mean, cov) > best
        assert objective(result.mean, cov) > best


def test_bures_distance_between_identical_gaussians_is_zero_and_barycentre_is_them():
    cov = spd(1, 3, seed=27)
    mean = torch.ones(1, 3, dtype=F64)
    distance = bures_w2sq(mean[0], cov[0], mean[0], cov[0])
    assert float(distance) == pytest.approx(0, abs=1e-12)
    _, s = bures_barycenter(mean.repeat(2, 1), cov.repeat(2, 1, 1), simplex(2))
    torch.testing.assert_close(s, cov[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("means", "covs", "weights", "message"),
    [
        (torch.zeros(2, 3), spd(2, 2, 0), simplex(2), "covs must have shape"),
        (torch.zeros(2, 3), spd(2, 3, 0), simplex(3), "weights must have shape"),
        (torch.zeros(2, 3), spd(2, 3, 0), torch.tensor([0.9, 0.9]), "simplex"),
        (torch.zeros(2, 3), -spd(2, 3, 0), simplex(2), "positive definite"),
    ],
)
def test_bures_bad_inputs(means, covs, weights, message):
    with pytest.raises(ValueError, match=message):
        bures_barycenter(means, covs, weights)
