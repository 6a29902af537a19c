"""ASWD: closed-form ascent gradient against autograd of the explicit map, batching, state."""

from __future__ import annotations

import ot
import pytest
import torch

from sliceflow.flows import get_flow
from sliceflow.flows.aswd import ascent_gradient, augmented_sw
from tests.helpers import clouds, make_context
from tests.helpers import flow_steps as steps_with_losses

ASWD = get_flow("aswd")


def flow_steps(flow, x, y, steps=3, lr=0.05):
    """The particles after ``steps`` engine-order steps."""
    return steps_with_losses(flow, x, y, steps, lr)[0]


def reference_objective(x, y, theta, weight, bias, penalty):
    """Chen et al.'s code for one seed: phi = [x, Ax + b], SW through the map, norm penalty."""
    phi_x = torch.cat([x, x @ weight.T + bias], dim=-1)
    phi_y = torch.cat([y, y @ weight.T + bias], dim=-1)
    reg = penalty * (phi_x.norm(dim=1) + phi_y.norm(dim=1)).mean()
    diff = torch.sort(phi_x @ theta.T, dim=0)[0] - torch.sort(phi_y @ theta.T, dim=0)[0]
    sw = diff.abs().pow(2).sum(dim=0).pow(0.5).pow(2).mean().pow(0.5)
    return sw - reg, sw


@pytest.mark.parametrize("d", [2, 5])
def test_closed_form_ascent_gradient_matches_autograd(d):
    x, y = clouds([0, 1], d=d)
    theta = torch.nn.functional.normalize(torch.randn(2, 20, 2 * d, dtype=torch.float64), dim=-1)
    weight, bias = torch.randn(2, d, d, dtype=torch.float64), torch.randn(2, d, dtype=torch.float64)
    objective, grad_w, grad_b = ascent_gradient(x, y, theta, weight, bias, 0.1)
    for s in range(2):
        w, b = weight[s].clone().requires_grad_(True), bias[s].clone().requires_grad_(True)
        ref, sw = reference_objective(x[s], y[s], theta[s], w, b, 0.1)
        ref_w, ref_b = torch.autograd.grad(ref, (w, b))
        assert objective[s].item() == pytest.approx(ref.item(), rel=1e-12)
        torch.testing.assert_close(grad_w[s], ref_w, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(grad_b[s], ref_b, rtol=1e-9, atol=1e-12)
        assert augmented_sw(x, y, theta, weight)[s].item() == pytest.approx(sw.item(), rel=1e-12)


def test_loss_with_zero_map_is_root_n_times_sliced_distance_of_the_padded_directions():
    """With A = 0 the augmented projection is x . theta_a: SW_2^2 = n * POT's SW^2."""
    x, y = clouds([2], d=3)
    theta = torch.nn.functional.normalize(torch.randn(1, 20, 6, dtype=torch.float64), dim=-1)
    ours = augmented_sw(x, y, theta, torch.zeros(1, 3, 3, dtype=torch.float64))
    directions = theta[0, :, :3]
    pot = ot.sliced_wasserstein_distance(x[0], y[0], projections=directions.T) ** 2
    assert ours.item() ** 2 == pytest.approx(30 * float(pot), rel=1e-10)


def test_particle_step_leaves_no_gradient_on_the_map():
    x, y = clouds([3, 4])
    flow = ASWD(ASWD.Config(), make_context([3, 4]))
    flow.inner_update(x, y)
    x = x.requires_grad_(True)
    flow.loss(x, y).sum().backward()
    assert not flow.weight.requires_grad and flow.weight.grad is None
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_inner_loop_raises_the_penalised_objective():
    """100 ascent steps: the objective on fixed directions goes up (median over 10 seeds)."""
    seeds = list(range(10))
    x, y = clouds(seeds)
    flow = ASWD(ASWD.Config(inner_steps=100), make_context(seeds))
    theta = torch.nn.functional.normalize(torch.randn(10, 200, 4, dtype=torch.float64), dim=-1)
    before = ascent_gradient(x, y, theta, flow.weight, flow.bias, 0.1)[0]
    flow.inner_update(x, y)
    after = ascent_gradient(x, y, theta, flow.weight, flow.bias, 0.1)[0]
    assert (after - before).median() > 0
