"""The velocity network (against torchcfm's MLP, batching) and the ODE samplers (closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sliceflow.tasks.flow_matching.network import VelocityMLP
from sliceflow.tasks.flow_matching.sampling import dopri5, euler, straightness


def _net(seeds, dim=2, width=16, depth=3):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return VelocityMLP(dim, width, depth, generators, dtype=torch.float32,
                       device=torch.device("cpu"))  # fmt: skip


def test_each_seed_is_torchcfm_mlp_with_its_own_weights():
    from torchcfm.models.models import MLP

    net = _net([3, 4], dim=3)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 50, 3, generator=g), torch.rand(2, 50, generator=g)
    ours = net(t, x)
    for s in range(2):
        reference = MLP(3, w=16, time_varying=True)
        layers = [m for m in reference.net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for layer, weight, bias in zip(layers, net.weights, net.biases, strict=True):
                layer.weight.copy_(weight[s].T)
                layer.bias.copy_(bias[s, 0])
        expected = reference(torch.cat([x[s], t[s, :, None]], dim=-1))  # torchcfm's input
        torch.testing.assert_close(ours[s], expected, rtol=1e-5, atol=1e-6)


def test_a_seed_trains_to_the_same_bits_alone_or_in_a_batch():
    batch, alone = _net([0, 1, 2]), _net([1])
    x, t = torch.randn(3, 64, 2), torch.rand(3, 64)
    optimizers = [torch.optim.Adam(n.parameters, lr=1e-2) for n in (batch, alone)]
    for _ in range(4):
        for net, optimizer, rows in zip((batch, alone), optimizers, (slice(None), slice(1, 2)),
                                        strict=True):  # fmt: skip
            loss = (net(t[rows], x[rows]) - x[rows]).square().mean(dim=(1, 2))
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
    for a, b in zip(batch.parameters, alone.parameters, strict=True):
        assert torch.equal(a[1], b[0])


def constant(t, x, seeds=None):
    return torch.ones_like(x) * torch.tensor([1.5, -0.5], dtype=x.dtype)


def linear(t, x, seeds=None):
    return x


def test_euler_and_dopri5_are_exact_on_a_constant_field():
    x0 = torch.randn(2, 40, 2, dtype=torch.float64)
    shift = torch.tensor([1.5, -0.5], dtype=torch.float64)
    for steps in (1, 3):
        x1, _ = euler(constant, x0, steps)
        torch.testing.assert_close(x1, x0 + shift)
    result = dopri5(constant, x0[1], seed=1)
    torch.testing.assert_close(result.x1, x0[1] + shift)
    assert result.nfe == 6 * result.steps + 2  # dopri5: 6 new stages per step (FSAL) + 2 at start
    assert straightness(constant, x0).abs().max() < 1e-12  # straight paths at constant speed


def test_solvers_on_the_linear_field_dx_dt_equals_x():
    x0 = torch.randn(1, 30, 2, dtype=torch.float64)
    for steps in (1, 2, 10):
        x1, kept = euler(linear, x0, steps, keep_every=1)
        torch.testing.assert_close(x1, (1 + 1 / steps) ** steps * x0)
        assert len(kept) == steps + 1
    result = dopri5(linear, x0[0], seed=0, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(result.x1, math.e * x0[0], rtol=1e-6, atol=1e-7)
    # x_t = e^t x0, chord (e - 1) x0: S = E|x0|^2 * int_0^1 (e^t - (e - 1))^2 dt
    c = math.e - 1
    exact = ((math.e**2 - 1) / 2 - 2 * c * c + c * c) * x0.square().sum(-1).mean()
    assert straightness(linear, x0, steps=2000)[0].item() == pytest.approx(exact.item(), rel=1e-2)


def test_euler_keeps_every_kth_state_and_the_last():
    x0 = torch.zeros(1, 3, 2)
    _, kept = euler(constant, x0, 10, keep_every=4)
    times = [float(state[0, 0, 0]) / 1.5 for state in kept]
    assert np.allclose(times, [0, 0.4, 0.8, 1.0])
