"""oneDNN products: the same maths as torch's, the float32 MLP values on both paths, NaN kept."""

from __future__ import annotations

import pytest
import torch

from sliceflow._kernels import onednn
from sliceflow.ot.sliced._projections import evaluate, init_parameters

needs_onednn = pytest.mark.skipif(not onednn.available(), reason="this torch has no oneDNN")


@pytest.fixture
def blas_only():
    onednn.ENABLED = False
    yield
    onednn.ENABLED = True


@needs_onednn
def test_linear_equals_torch_linear_to_float32_rounding():
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(shape, generator=g) for shape in ((300, 64), (16, 64), (16,)))
    assert onednn.usable(x, w, b)
    expected = (x.double() @ w.double().T + b.double()).float()
    torch.testing.assert_close(onednn.linear(x, w, b), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(onednn.linear(x, w.T.contiguous().T), x @ w.T, rtol=1e-5, atol=1e-4)


def test_linear_falls_back_to_torch_for_float64_gradients_and_when_disabled(blas_only):
    x, w = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    assert not onednn.usable(x, w)
    assert torch.equal(onednn.linear(x, w), torch.nn.functional.linear(x, w))
    x32 = torch.randn(5, 3)
    assert torch.equal(onednn.linear(x32, w.float()), torch.nn.functional.linear(x32, w.float()))
    onednn.ENABLED = True
    leaf = torch.randn(5, 3, requires_grad=True)
    assert not onednn.usable(leaf, w.float())  # the op has no derivative: torch's, with grad
    onednn.linear(leaf, w.float()).sum().backward()
    assert leaf.grad is not None


def _mlp_values(points, params, widths):
    return evaluate("mlp", params, points, widths)


@needs_onednn
@pytest.mark.parametrize("widths", [[64, 16], [8, 5, 3]])
def test_float32_deep_mlp_is_the_same_function_on_both_paths(widths):
    """Model by model through oneDNN, or in blocks of points through BLAS: the same values to
    float32 rounding, against a float64 evaluation of the same parameters."""
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    params = init_parameters("mlp", 2, widths, gens, dtype=torch.float32, device="cpu")
    params = params.unsqueeze(1) + 0.05 * torch.randn(3, 5, params.shape[-1])  # K = 5 models
    points = torch.randn(3, 700, 2)
    exact = _mlp_values(points.double(), params.double(), widths)  # float64: torch's path
    fast = _mlp_values(points, params, widths)
    onednn.ENABLED = False
    try:
        blocks = _mlp_values(points, params, widths)
    finally:
        onednn.ENABLED = True
    for values in (fast, blocks):
        torch.testing.assert_close(values.double(), exact, rtol=1e-4, atol=1e-4)
    alone = _mlp_values(points[1:2], params[1:2], widths)
    assert torch.equal(alone, fast[1:2])  # a seed gets the same bits alone or in a batch


def test_a_nan_point_gives_nan_values_not_zeros():
    gens = [torch.Generator().manual_seed(s) for s in range(2)]
    params = init_parameters("mlp", 2, [64, 16], gens, dtype=torch.float32, device="cpu")
    points = torch.randn(2, 50, 2)
    points[1, 7, 0] = float("nan")
    values = _mlp_values(points, params.unsqueeze(1), [64, 16])
    assert torch.isnan(values[1, 0, 7]) and torch.isfinite(values[0]).all()
    assert torch.isfinite(values[1, 0, :7]).all()


@needs_onednn
def test_low_rank_smoothing_values_and_gradient_are_the_same_on_both_paths():
    """DGSWP's high-dimensional sampler in float32: oneDNN seed by seed, or batched BLAS, the
    same values and Stein gradient (to float32 rounding) from the same draws."""
    from sliceflow.ot.sliced._projections import LowRankMLPSmoothing

    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    points = torch.randn(3, 24, 60)  # d + 1 = 61 > M = 24
    params = init_parameters("mlp", 60, 32, gens, dtype=torch.float32, device="cpu")
    results = {}
    for enabled in (True, False):
        onednn.ENABLED = enabled
        try:
            smoothing = LowRankMLPSmoothing(points, 32)
            assert smoothing.fast == enabled
            draws = smoothing.draw([torch.Generator().manual_seed(9)] * 3, 5, torch.float32, "cpu")
            values = smoothing.values(params, draws, 0.1)  # (3, 6, 24)
            gradient = smoothing.gradient(values.sum(-1).double(), draws, 0.1)
            results[enabled] = values, gradient
        finally:
            onednn.ENABLED = True
    for fast, blas in zip(results[True], results[False], strict=True):
        torch.testing.assert_close(fast, blas, rtol=1e-4, atol=1e-4)
