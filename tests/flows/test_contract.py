"""The contract every registered flow keeps, on every manifold it supports.

A new method is tested by being registered: it appears in CASES with its default parameters
(add an entry to EXTRA_PARAMS only if it cannot run on its defaults, and to MORE_CASES for
variants with another code path). Checks: loss shape (S,) and finite, finite gradients (or a
finite implicit step), a seed alone equals the same seed inside a batch, bit for bit, a
``state_dict`` round trip continues bit for bit, unknown configuration keys are rejected.
"""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from sliceflow.flows import FLOW_VARIANTS, FLOWS, FlowContext, get_flow
from sliceflow.manifolds import MANIFOLDS
from tests.helpers import ball_points

JKO_FUNCTIONAL = [
    {"kind": "potential", "potential": "quadratic", "A": [[1.0, 0.0], [0.0, 1.0]], "b": [0, 0]},
    {"kind": "entropy", "estimator": "kde", "bandwidth": 0.3},
]
FAST = {"inner_steps": 3}  # every flow with an inner loop: keep it short
EXTRA_PARAMS = {
    "jko_sw": {"functional": JKO_FUNCTIONAL, "n_projections": 20, "inner_lr": 1.0},
    "sinkhorn": {"blur": 0.2},  # reg or blur has no default
}
MORE_CASES = [
    ("dgswp", "euclidean", {"projection": "mlp", "hidden": 16, "keep_best": True}, {}),
    ("dgswp", "euclidean", {"projection": "mlp", "hidden": [8, 4], "optimizer": "sgd"}, {}),
    # d + 1 > n + m: the MLP's perturbations are sampled in the span of the points
    ("dgswp", "euclidean", {"projection": "mlp", "hidden": 16}, {"n": 6, "d": 14}),
    ("dgswp", "poincare", {"keep_best": True}, {}),
    ("jko_sw", "euclidean", {"functional": [*JKO_FUNCTIONAL[:1], {"kind": "entropy",
     "estimator": "flow"}], "representation": "normalizing_flow", "optimizer": "adam",
     "inner_lr": 0.005, "n_projections": 20,
     "normalizing_flow": {"transforms": 1, "hidden_features": [8]}}, {}),
    ("exact_ot", "euclidean", {"solver": "pot"}, {}),
    ("sinkhorn", "euclidean", {"reg": 0.05, "debias": False, "gradient": "unrolled"}, {}),
    ("sinkhorn", "poincare", {"blur": 0.2, "solver": "vanilla", "scaling": None}, {}),
]  # fmt: skip


def _cases():
    pairs = [(name, manifold) for name, cls in FLOWS.items() for manifold in cls.manifolds]
    pairs = [p for p in pairs if p not in FLOW_VARIANTS] + list(FLOW_VARIANTS)
    cases = [(name, manifold, EXTRA_PARAMS.get(name, {}), {}) for name, manifold in pairs]
    return sorted(cases + MORE_CASES, key=lambda c: (c[0], c[1]))


CASES = _cases()
IDS = [f"{name}-{manifold}-{i}" for i, (name, manifold, _, _) in enumerate(CASES)]


def make(name, manifold_name, params, seeds, n=12, d=2):
    cls = get_flow(name, manifold_name)
    fields = cls.Config.model_fields
    config = cls.Config(**{**{k: v for k, v in FAST.items() if k in fields}, **params})
    manifold = MANIFOLDS[manifold_name]()
    gens = [torch.Generator().manual_seed(100 + s) for s in seeds]
    context = FlowContext(len(seeds), n, n, d, torch.float64, torch.device("cpu"), manifold,
                          gens, list(seeds))  # fmt: skip
    return cls(config, context)


def clouds(manifold_name, seeds, n=12, d=2):
    if manifold_name == "poincare":
        x = torch.stack([ball_points((n, d), radius=0.7, seed=s) for s in seeds])
        y = torch.stack([ball_points((n, d), radius=0.4, seed=50 + s) + 0.2 for s in seeds])
        return x, y
    g = torch.Generator().manual_seed(7)
    x = torch.stack([torch.rand(n, d, generator=g, dtype=torch.float64) + s for s in seeds])
    y = torch.stack([torch.randn(n, d, generator=g, dtype=torch.float64) for _ in seeds])
    return x, y


def engine_steps(flow, x, y, steps=2, lr=0.05):
    """What the engine does per step; returns the particles and the losses (S, steps)."""
    losses = []
    for _ in range(steps):
        if flow.implicit:
            losses.append(flow.loss(x, y).detach())
            x = flow.implicit_step(x, y).detach()
            continue
        flow.inner_update(x.detach(), y)
        x = x.detach().requires_grad_(True)
        loss = flow.loss(x, y)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        assert torch.isfinite(grad).all()
        x = flow.context.manifold.step(x.detach(), grad, lr)
        losses.append(loss.detach())
    return x, torch.stack(losses, 1)


@pytest.mark.parametrize(("name", "manifold", "params", "shape"), CASES, ids=IDS)
def test_loss_has_one_finite_value_per_seed_and_steps_stay_finite(name, manifold, params, shape):
    seeds = [0, 1, 2]
    flow = make(name, manifold, params, seeds, **shape)
    x, y = clouds(manifold, seeds, **shape)
    loss = flow.loss(x, y)
    assert loss.shape == (3,) and torch.isfinite(loss).all()
    moved, _ = engine_steps(flow, x, y)
    assert moved.shape == x.shape and torch.isfinite(moved).all()


@pytest.mark.parametrize(("name", "manifold", "params", "shape"), CASES, ids=IDS)
def test_a_seed_alone_equals_the_same_seed_in_a_batch(name, manifold, params, shape):
    seeds = [0, 1, 2]
    x, y = clouds(manifold, seeds, **shape)
    together = engine_steps(make(name, manifold, params, seeds, **shape), x, y)
    alone = engine_steps(make(name, manifold, params, [1], **shape), x[1:2], y[1:2])
    assert torch.equal(together[0][1:2], alone[0]) and torch.equal(together[1][1:2], alone[1])


@pytest.mark.parametrize(("name", "manifold", "params", "shape"), CASES, ids=IDS)
def test_state_round_trip_continues_bit_for_bit(name, manifold, params, shape):
    seeds = [0, 1]
    x, y = clouds(manifold, seeds, **shape)
    flow = make(name, manifold, params, seeds, **shape)
    x, _ = engine_steps(flow, x, y)
    state = copy.deepcopy(flow.state_dict())
    generators = [g.get_state() for g in flow.context.generators]
    expected = engine_steps(flow, x, y)
    resumed = make(name, manifold, params, [5, 6], **shape)  # other seeds: all state is loaded
    resumed.load_state_dict(state)
    for generator, saved in zip(resumed.context.generators, generators, strict=True):
        generator.set_state(saved)
    again = engine_steps(resumed, x, y)
    assert torch.equal(again[0], expected[0]) and torch.equal(again[1], expected[1])


@pytest.mark.parametrize(("name", "manifold"), sorted({(c[0], c[1]) for c in CASES}))
def test_unknown_configuration_keys_are_rejected(name, manifold):
    cls = get_flow(name, manifold)
    with pytest.raises(ValidationError, match="Extra inputs"):
        cls.Config(**EXTRA_PARAMS.get(name, {}), not_a_parameter=1)
    with pytest.raises(ValidationError):
        cls.Config(**EXTRA_PARAMS.get(name, {}), lr=-1.0)  # every flow's step size is > 0
