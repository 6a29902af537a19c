"""min-SWGG: plan costs against POT, the smoothed surrogate, d = 1, batching, persistence."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from sliceflow.flows import get_flow
from sliceflow.ot.sliced import min_swgg_plan, plan_cost, smoothed_swgg_grad, swgg_cost, swgg_orders
from tests.helpers import clouds, make_context


def permutation_cost(x, y, sigma, tau):
    """<P, M> with the permutation plan P[sigma_i, tau_i] = 1/n and M = ot.dist (POT)."""
    n = x.shape[0]
    plan = np.zeros((n, n))
    plan[sigma, tau] = 1 / n
    return float((plan * ot.dist(x, y)).sum())


def test_swgg_is_the_cost_of_its_plan_and_bounds_w2():
    x, y = clouds([0, 1])
    theta = torch.nn.functional.normalize(torch.randn(2, 7, 2, dtype=torch.float64), dim=-1)
    sigma, tau = min_swgg_plan(x, y, theta)
    value = plan_cost(x, y, sigma, tau)
    for s in range(2):
        xn, yn = x[s].numpy(), y[s].numpy()
        cost = permutation_cost(xn, yn, sigma[s].numpy(), tau[s].numpy())
        assert value[s].item() == pytest.approx(cost, rel=1e-12)
        assert value[s].item() >= ot.emd2([], [], ot.dist(xn, yn)) - 1e-12


def test_random_search_matches_pot_min_sliced_transport_plan():
    x, y = clouds([3], n=25, d=3)
    theta = torch.nn.functional.normalize(torch.randn(1, 20, 3, dtype=torch.float64), dim=-1)
    ours = plan_cost(x, y, *min_swgg_plan(x, y, theta))[0].item()
    _, pot_cost = ot.min_sliced_transport_plan(x[0], y[0], projections=theta[0].T)
    assert ours == pytest.approx(float(pot_cost), rel=1e-10)


def reference_surrogate(x, y, theta, noise_x, noise_y, s):
    """SWGG_smooth of Mahey et al.'s code, one seed, differentiable in theta by autograd."""
    n, d = x.shape
    x_line_sort, u = torch.sort(x @ theta)
    y_line_sort, v = torch.sort(y @ theta)
    x_sort, y_sort = x[u], y[v]
    z = ((x_line_sort + y_line_sort) / 2)[:, None] * theta[None, :]
    w_xz = ((x_sort - z) ** 2).sum() / n
    w_yz = ((y_sort - z) ** 2).sum() / n
    u_b = torch.sort(x_line_sort.detach().repeat_interleave(s) + noise_x).indices
    v_b = torch.sort(y_line_sort.detach().repeat_interleave(s) + noise_y).indices
    bary = (x_sort.repeat_interleave(s, 0)[u_b] + y_sort.repeat_interleave(s, 0)[v_b]) / 2
    bary = bary.reshape(n, s, d).mean(1)
    w_bz = ((bary - z) ** 2).sum() / n
    return -4 * w_bz + 2 * w_xz + 2 * w_yz


@pytest.mark.parametrize("s,eps", [(1, 0.0), (10, 0.1), (4, 0.5)])
def test_surrogate_value_and_closed_form_gradient(s, eps):
    x, y = clouds([5, 6], n=20, d=3)
    theta = torch.nn.functional.normalize(torch.randn(2, 3, dtype=torch.float64), dim=-1)
    noise = 0.5 * eps * torch.randn(2, 2, 20 * s, dtype=torch.float64)
    value, grad = smoothed_swgg_grad(x, y, theta, noise)
    for k in range(2):
        t = theta[k].clone().requires_grad_(True)
        ref = reference_surrogate(x[k], y[k], t, noise[k, 0], noise[k, 1], s)
        (ref_grad,) = torch.autograd.grad(ref, t)
        assert value[k].item() == pytest.approx(ref.item(), rel=1e-10)
        torch.testing.assert_close(grad[k], ref_grad, rtol=1e-9, atol=1e-12)
    if s == 1 and eps == 0:  # the surrogate is SWGG itself
        torch.testing.assert_close(value, swgg_cost(x, y, theta), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["min_swgg", "min_swgg_opt"])
def test_one_dimension_gives_w2(name):
    x, y = clouds([7, 8], d=1)
    cls = get_flow(name)
    flow = cls(cls.Config(), make_context([7, 8], d=1))
    flow.inner_update(x, y)
    value = flow.loss(x, y)
    for s in range(2):
        w2 = ot.emd2([], [], ot.dist(x[s].numpy(), y[s].numpy()))
        assert value[s].item() == pytest.approx(w2, rel=1e-10)


def test_optimised_inner_step_is_adam_on_the_surrogate_then_renormalised():
    """First Adam step from a fresh optimiser moves theta by -lr * g / (|g| + 1e-8)."""
    seeds = [3, 4]
    x, y = clouds(seeds)
    cls = get_flow("min_swgg_opt")
    flow = cls(cls.Config(inner_steps=1), make_context(seeds))
    for _ in range(2):  # the second call checks that Adam restarts at every flow step
        theta = flow.solver.theta.clone()
        replay = [torch.Generator().set_state(g.get_state()) for g in flow.context.generators]
        noise = torch.stack([torch.randn(2, 300, generator=g, dtype=torch.float64) for g in replay])
        _, grad = smoothed_swgg_grad(x, y, theta, 0.05 * noise)
        expected = theta - 0.01 * grad / (grad.abs() + 1e-8)
        flow.inner_update(x, y)
        torch.testing.assert_close(
            flow.solver.theta, expected / expected.norm(dim=-1, keepdim=True)
        )


def test_particle_loss_gradient_is_two_over_n_times_displacement():
    x, y = clouds([2])
    theta = torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    sigma, tau = swgg_orders(x, y, theta.unsqueeze(1))
    x = x.requires_grad_(True)
    (grad,) = torch.autograd.grad(plan_cost(x, y, sigma[:, 0], tau[:, 0]).sum(), x)
    matched = torch.empty_like(y[0])
    matched[sigma[0, 0]] = y[0, tau[0, 0]]
    torch.testing.assert_close(grad[0], 2 / 30 * (x[0].detach() - matched))
