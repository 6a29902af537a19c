"""sinkhorn flow: its loss and gradient against autograd and GeomLoss, its limit (exact_ot),
the shrinkage of the biased flow, the ball's boundary, and its non-convergence counts."""

from __future__ import annotations

import pytest
import torch
import yaml
from pydantic import ValidationError

import sliceflow
from sliceflow.flows import get_flow
from sliceflow.ot.entropic._sinkhorn import sinkhorn_divergence
from tests.helpers import ball_points, clouds, make_flow, small_scenario, value_and_grad


def run_flow(flow, x, y, steps, lr):
    for _ in range(steps):
        x = flow.context.manifold.step(x, value_and_grad(flow, x, y)[1], lr)
    return x


@pytest.mark.parametrize("debias", [True, False])
def test_envelope_gradient_equals_autograd_through_the_converged_divergence(debias):
    x, y = clouds([0, 1], n=15)
    flow = make_flow("sinkhorn", n=15, m=15, blur=0.5, tol=1e-12, max_iter=2000, debias=debias)
    loss, grad = value_and_grad(flow, x, y)
    xv = x.detach().requires_grad_(True)
    reference = sinkhorn_divergence(xv, y, 2 * 0.5**2, gradient="autograd", scaling=0.5,
                                    tol=1e-12, max_iter=2000, debias=debias).value  # fmt: skip
    (expected,) = torch.autograd.grad(reference.sum(), xv)
    assert torch.allclose(loss, reference.detach(), rtol=1e-10)
    assert torch.allclose(grad, expected, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("debias", [True, False])
def test_blur_is_geomloss_blur_and_the_loss_twice_its_value(debias):
    """Our cost |x - y|^2 with reg = 2 blur^2 is GeomLoss's |x - y|^2 / 2 with eps = blur^2."""
    geomloss = pytest.importorskip("geomloss")
    x, y = clouds([2], n=40)
    flow = make_flow("sinkhorn", seeds=[2], n=40, m=40, blur=0.5, tol=1e-13, max_iter=5000,
                     debias=debias)  # fmt: skip
    loss, grad = value_and_grad(flow, x, y)
    samples_loss = geomloss.SamplesLoss(
        "sinkhorn", p=2, blur=0.5, scaling=0.999, debias=debias, backend="tensorized"
    )
    xv = x.detach().requires_grad_(True)
    theirs = samples_loss(xv, y)  # (1,)
    (their_grad,) = torch.autograd.grad(theirs.sum(), xv)
    assert float(loss[0]) == pytest.approx(2 * float(theirs.detach()[0]), rel=1e-6)
    # GeomLoss anneals without a stopping rule: its gradient converges to ours as scaling -> 1
    # (relative error 2e-2 at 0.9, 2e-3 at 0.99, 3e-4 at 0.999)
    assert float((grad - 2 * their_grad).norm() / grad.norm()) < 1e-3


def test_a_small_blur_tracks_the_exact_flow():
    x, y = clouds([3], n=20)
    exact = run_flow(make_flow("exact_ot", seeds=[3], n=20, m=20), x, y, steps=10, lr=1.0)
    small = make_flow("sinkhorn", seeds=[3], n=20, m=20, blur=0.05, tol=1e-4, max_iter=3000)
    entropic = run_flow(small, x, y, steps=10, lr=1.0)
    travelled = (exact - x).norm(dim=-1).mean()
    gap = (entropic - exact).norm(dim=-1).mean()  # measured 5e-4
    assert travelled > 0.5 and gap < 2e-3 * travelled and small.unconverged.sum() == 0
    blurred = run_flow(make_flow("sinkhorn", seeds=[3], n=20, m=20, blur=0.3), x, y, 10, 1.0)
    assert (blurred - exact).norm(dim=-1).mean() > 0.05 * travelled  # measured 0.12


def test_the_biased_flow_shrinks_the_cloud_and_the_debiased_one_does_not():
    x, y = clouds([4], n=40)
    spread = lambda z: (z - z.mean(1, keepdim=True)).square().sum(-1).mean().sqrt()  # noqa: E731
    kept = run_flow(make_flow("sinkhorn", seeds=[4], n=40, m=40, blur=0.5), x, y, 40, 10.0)
    biased = run_flow(make_flow("sinkhorn", seeds=[4], n=40, m=40, blur=0.5, debias=False),
                      x, y, 40, 10.0)  # fmt: skip
    assert float(spread(x)) < 0.7 * float(spread(y))  # the particles had to spread out
    assert float(spread(kept)) == pytest.approx(float(spread(y)), rel=0.01)  # measured 3e-4
    assert float(spread(biased)) < 0.95 * float(spread(y))  # measured 0.917


@pytest.mark.parametrize("debias", [True, False])
def test_ball_gradients_are_finite_at_the_boundary(debias):
    x = ball_points((1, 12, 2), radius=0.5, seed=1)
    x[0, :3] *= (1 - 1e-5) / x[0, :3].norm(dim=-1, keepdim=True)
    y = ball_points((1, 12, 2), radius=0.95, seed=2)
    flow = make_flow("sinkhorn", "poincare", seeds=[0], n=12, m=12, blur=0.2, debias=debias)
    loss, grad = value_and_grad(flow, x, y)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert grad[0, :3].abs().sum() > 0
    moved = flow.context.manifold.step(x, grad, 2.5)
    assert torch.isfinite(moved).all() and (moved.norm(dim=-1) < 1).all()


@pytest.mark.parametrize(
    "params",
    [{}, {"reg": 0.1, "blur": 0.1}, {"blur": 0.0}, {"reg": float("inf")},
     {"blur": 0.1, "solver": "vanilla"}, {"blur": 0.1, "scaling": 1.0}],
)  # fmt: skip
def test_bad_parameters_are_rejected_at_construction(params):
    with pytest.raises(ValidationError):
        get_flow("sinkhorn").Config(**params)


def test_non_convergence_is_counted_per_seed_in_scenario_yaml(tmp_path):
    methods = [
        {"method": "sinkhorn", "label": "capped", "lr": 1.0, "blur": 0.05, "max_iter": 2},
        {"method": "sinkhorn", "label": "loose", "lr": 1.0, "blur": 0.5, "tol": 1e-3},
    ]
    scenario = small_scenario(n_particles=20, steps=3, seeds=2, methods=methods)
    sliceflow.run(scenario, out=tmp_path, render=False)
    run = yaml.safe_load((tmp_path / "scenario.yaml").read_text())["run"]
    # every loss evaluation (3 steps, then the last step's loss for the trace) hit the limit
    assert run["sinkhorn_unconverged"] == {"capped": [4, 4], "loose": [0, 0]}
    assert run["nonfinite_particles"] == {"capped": [0, 0], "loose": [0, 0]}


def test_a_vanilla_kernel_underflowing_to_a_support_without_plan_is_counted_per_seed():
    """Seed 1's x1 and x2 reach only y1 once exp(-C / reg) underflows: the maths API raises
    there (naming the log domain); the flow counts it for that seed and carries on."""
    x = torch.tensor([[[0.0, 0.5], [0.0, -0.5], [20.0, 0.0]]], dtype=torch.float64)
    y = torch.tensor([[[0.0, 0.0], [40.0, 0.0], [40.0, 1.0]]], dtype=torch.float64)
    x = torch.cat([torch.tensor([[[0.0, 0.5], [1.0, -0.5], [2.0, 0.0]]]), x]).double()
    y = torch.cat([torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]]), y]).double()
    for max_iter in (1000, 5000):  # ends unconverged, or its iterates overflow first
        flow = make_flow("sinkhorn", n=3, m=3, blur=0.5**0.5, solver="vanilla", scaling=None,
                         max_iter=max_iter, debias=False)  # fmt: skip
        loss, grad = value_and_grad(flow, x, y)
        assert torch.isfinite(loss).all() and torch.isfinite(grad[0]).all()
        assert flow.counters()["sinkhorn_unconverged"].tolist() == [0, 1]
