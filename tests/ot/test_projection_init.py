"""Initialisation of the mlp projection: ``init: torch_default`` is PyTorch's own nn.Linear
initialisation drawn from the seed's generator; ``he`` (the default) stays as it was."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError

from sliceflow.flows import get_flow
from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver, EuclideanProjections, init_parameters
from sliceflow.tasks.plan.methods import get_plan_method


def torch_linear_layers(generator, widths, d):
    """nn.Linear's default initialisation (torch.nn.init, this generator), in the flat layout:
    per layer [W | b] row by row, then the output weights and bias."""
    parts, fan_in = [], d
    for h in [*widths, 1]:
        weight = torch.empty(h, fan_in, dtype=torch.float64)
        torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        bias = torch.empty(h, 1, dtype=torch.float64)
        bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator)
        parts.append(torch.cat([weight, bias], -1).flatten())  # the output layer: [w | b]
        fan_in = h
    return torch.cat(parts)


def test_torch_default_is_nn_linears_initialisation_from_each_seeds_generator():
    seeds = [3, 11]
    params = init_parameters("mlp", 2, [64, 16], [torch.Generator().manual_seed(s) for s in seeds],
                             dtype=torch.float64, device="cpu", init="torch_default")  # fmt: skip
    for row, seed in zip(params, seeds, strict=True):
        expected = torch_linear_layers(torch.Generator().manual_seed(seed), [64, 16], 2)
        torch.testing.assert_close(row, expected, rtol=0, atol=4e-16)


def test_he_is_unchanged_and_about_sqrt6_times_wider():
    generator = torch.Generator().manual_seed(5)
    he = init_parameters("mlp", 2, 512, [generator], dtype=torch.float64, device="cpu")[0]
    again = torch.Generator().manual_seed(5)
    weights = torch.randn(512, 2, generator=again, dtype=torch.float64) * math.sqrt(2 / 2)
    assert torch.equal(he[: 512 * 3].view(512, 3)[:, :2], weights)  # first layer, as before
    plain = init_parameters("mlp", 2, 512, [torch.Generator().manual_seed(5)],
                            dtype=torch.float64, device="cpu", init="torch_default")[0]  # fmt: skip
    ratio = he[: 512 * 3].view(512, 3)[:, :2].std() / plain[: 512 * 3].view(512, 3)[:, :2].std()
    assert float(ratio) == pytest.approx(math.sqrt(6), rel=0.1)


def test_init_reaches_the_solver_and_is_refused_where_it_has_no_use():
    config = DGSWPConfig(projection="mlp", hidden=[8, 4], init="torch_default")
    solver = DGSWPSolver.from_config(config, 2, [torch.Generator().manual_seed(0)],
                                     dtype=torch.float64)  # fmt: skip
    expected = torch_linear_layers(torch.Generator().manual_seed(0), [8, 4], 2)
    torch.testing.assert_close(solver.params[0], expected, rtol=0, atol=4e-16)
    assert DGSWPConfig().init == "he" and get_flow("dgswp").Config().init == "he"
    assert get_plan_method("dgswp").Config().init == "he"
    with pytest.raises(ValidationError, match="init does not apply to projection linear"):
        DGSWPConfig(init="torch_default")
    with pytest.raises(ValidationError):
        DGSWPConfig(projection="mlp", init="xavier")
    with pytest.raises(ValueError, match="unknown init"):
        EuclideanProjections("mlp", 8, 2, dtype=torch.float64, init="xavier")
