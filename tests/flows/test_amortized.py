"""Amortized SW (LA, GA, NA): model formulas, the ascent step, batching, persistence."""

from __future__ import annotations

import ot
import pytest
import torch

from sliceflow.flows import get_flow
from sliceflow.flows.amortized import amortized_sw
from tests.helpers import clouds, make_context
from tests.helpers import flow_steps as steps_with_losses

NAMES = ["la_sw", "ga_sw", "na_sw"]


def flow_steps(flow, x, y, steps=3, lr=0.05):
    """The particles after ``steps`` engine-order steps."""
    return steps_with_losses(flow, x, y, steps, lr)[0]


def reference_direction(name, p, x, y):
    """Definitions 3-5 of Nguyen & Ho (2022) for one seed."""

    def mlp(z):
        return torch.sigmoid(z @ p["inner"].T) @ p["outer"].T + p["bias"]

    if name == "ga_sw":
        x, y = mlp(x), mlp(y)
    a = p["w0"] + x.T @ p["w1"] + y.T @ p["w2"]
    if name == "na_sw":
        a = mlp(a)
    return a / a.norm()


@pytest.mark.parametrize("name", NAMES)
def test_direction_and_loss_follow_the_definitions(name):
    x, y = clouds([0, 1], d=3)
    cls = get_flow(name)
    flow = cls(cls.Config(), make_context([0, 1], d=3))
    loss = flow.loss(x, y)
    for s in range(2):
        params = {k: v[s].detach() for k, v in flow.params.items()}
        theta = reference_direction(name, params, x[s], y[s])
        pot = ot.sliced_wasserstein_distance(x[s], y[s], projections=theta[:, None])
        # sqrt(sum_i diff^2) = sqrt(n) * POT's SW_2 (which averages over particles)
        assert loss[s].item() == pytest.approx(30**0.5 * float(pot), rel=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_first_ascent_step_moves_each_parameter_by_lr_times_sign_of_gradient(name):
    """Adam with beta1 = 0, beta2 = 0.9, first step: the update is lr * g / |g| (ascent)."""
    x, y = clouds([2, 3])
    cls = get_flow(name)
    flow = cls(cls.Config(), make_context([2, 3]))
    before = {k: v.detach().clone() for k, v in flow.params.items()}
    objective = amortized_sw(x, y, flow.direction(x, y, flow.params)).sum()
    values = list(flow.params.values())
    grads = dict(zip(flow.params, torch.autograd.grad(objective, values), strict=True))
    flow.inner_update(x, y)
    for key, value in flow.params.items():
        expected = before[key] + 0.01 * grads[key] / (grads[key].abs() + 1e-8)
        torch.testing.assert_close(value.detach(), expected)


def particle_gradient(flow, x, y):
    x = x.detach().requires_grad_(True)
    flow.loss(x, y).sum().backward()
    assert all(v.grad is None for v in flow.params.values())  # the model gets no gradient
    return x.grad


@pytest.mark.parametrize("name", NAMES)
def test_particle_gradient_holds_the_direction_fixed_by_default(name):
    """The authors' code: the direction is treated as the maximiser (Danskin)."""
    x, y = clouds([4])
    cls = get_flow(name)
    flow = cls(cls.Config(), make_context([4]))
    theta = flow.direction(x, y, flow.params).detach()
    x_fixed = x.detach().requires_grad_(True)
    amortized_sw(x_fixed, y, theta).sum().backward()
    torch.testing.assert_close(particle_gradient(flow, x, y), x_fixed.grad, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_without_detach_the_particle_gradient_also_flows_through_the_model(name):
    x, y = clouds([4])
    cls = get_flow(name)
    config = cls.Config(detach=False)
    through = particle_gradient(cls(config, make_context([4])), x, y)
    fixed = particle_gradient(cls(cls.Config(), make_context([4])), x, y)
    x_var = x.detach().requires_grad_(True)
    flow = cls(config, make_context([4]))
    params = {k: v.detach() for k, v in flow.params.items()}
    amortized_sw(x_var, y, flow.direction(x_var, y, params)).sum().backward()
    torch.testing.assert_close(through, x_var.grad)
    assert not torch.allclose(through, fixed)  # f_psi(X, Y) depends on X
