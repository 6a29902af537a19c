"""The contract every registered plan method and coupling keeps (as the flows' contract test).

A new plan method or coupling is tested by being registered: it appears in the cases below with
its default parameters (add an entry to FAST only to keep a case short). Plan methods: the plan
held is a permutation, its cost is that of the permutation and is >= the exact W2^2 (POT), a seed
alone equals the same seed in a batch, a ``state_dict`` round trip continues bit for bit, unknown
keys are rejected. Couplings: a permutation coupling pairs every sample once, any coupling draws
only given samples, a seed alone equals the same seed in a batch, ``state_dict`` round trips.
"""

from __future__ import annotations

import copy

import numpy as np
import ot
import pytest
import torch
from pydantic import ValidationError

from sliceflow.ot.sliced import PlanCosts
from sliceflow.tasks.flow_matching.couplings import COUPLINGS, CouplingContext
from sliceflow.tasks.plan.methods import PLAN_METHODS, PlanContext

PLAN_METHODS.load()
COUPLINGS.load()
FAST = {"init_steps": 5}  # a learned coupling's first fit: keep it short
COUPLING_PLANS = {"sinkhorn"}  # plan methods holding a coupling (targets: its rows' argmax)
PERMUTATION_COUPLINGS = {"min_swgg", "dgswp"}  # the others draw pairs with replacement


def _clouds(seeds, n=24, d=2):
    xs, ys = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(300 + s)
        xs.append(torch.randn(n, d, generator=g, dtype=torch.float64))
        ys.append(torch.rand(n, d, generator=g, dtype=torch.float64) * 2 + 1)
    return torch.stack(xs), torch.stack(ys)


def _exact(x, y):
    def solve():
        perms, values = [], []
        for xs, ys in zip(x.numpy(), y.numpy(), strict=True):
            cost = ot.dist(xs, ys)
            plan = ot.emd(ot.unif(len(xs)), ot.unif(len(ys)), cost)
            perms.append(plan.argmax(1))
            values.append(float((plan * cost).sum()))
        return np.stack(perms), np.array(values)

    return solve


def _plan_method(name, seeds):
    x, y = _clouds(seeds)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    cls = PLAN_METHODS[name]
    context = PlanContext(x, y, PlanCosts(x, y), generators, _exact(x, y))
    return cls(cls.Config(), context)


@pytest.mark.parametrize("name", sorted(PLAN_METHODS))
def test_plan_method_holds_a_permutation_no_cheaper_than_w2(name):
    method = _plan_method(name, [0, 1])
    exact = _exact(method.context.x, method.context.y)()[1]
    for step in range(3):
        targets = method.targets()
        for row in targets if name not in COUPLING_PLANS else []:
            assert sorted(row.tolist()) == list(range(len(row)))  # a permutation
        cost = method.cost(last=step == 2).double()
        assert cost.shape == (2,) and torch.isfinite(cost).all()
        assert (cost >= torch.from_numpy(exact) - 1e-9).all()  # no plan beats the optimum
        if name not in COUPLING_PLANS:  # the cost is that of the permutation held
            x, y = method.context.x, method.context.y
            matched = y.gather(1, targets.unsqueeze(-1).expand(-1, -1, y.shape[-1]))
            assert torch.allclose(cost, (x - matched).square().sum(-1).mean(-1), atol=1e-9)
        method.advance(last=step == 2)


@pytest.mark.parametrize("name", sorted(PLAN_METHODS))
def test_plan_method_seed_alone_equals_seed_in_batch(name):
    alone, batch = _plan_method(name, [1]), _plan_method(name, [0, 1])
    for step in range(3):
        assert torch.equal(alone.targets()[0], batch.targets()[1])
        alone.advance(last=step == 2)
        batch.advance(last=step == 2)


@pytest.mark.parametrize("name", sorted(PLAN_METHODS))
def test_plan_method_state_round_trip_continues_bit_for_bit(name):
    method = _plan_method(name, [0, 1])
    method.advance(last=False)
    state = copy.deepcopy(method.state_dict())
    twin = _plan_method(name, [0, 1])
    twin.load_state_dict(state)
    for generator, source in zip(twin.context.generators, method.context.generators, strict=True):
        generator.set_state(source.get_state())
    for step in range(2):
        method.advance(last=step == 1)
        twin.advance(last=step == 1)
        assert torch.equal(method.targets(), twin.targets())


@pytest.mark.parametrize("name", sorted(PLAN_METHODS))
def test_plan_method_rejects_unknown_keys(name):
    with pytest.raises(ValidationError):
        PLAN_METHODS[name].Config(no_such_key=1)


def _coupling(name, seeds, batch=12):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    context = CouplingContext(len(seeds), 2, batch, torch.float64, torch.device("cpu"), generators)
    cls = COUPLINGS[name]
    fields = cls.Config.model_fields
    return cls(cls.Config(**{k: v for k, v in FAST.items() if k in fields}), context)


def _rows(points):
    return sorted(tuple(np.round(p, 12)) for p in points.numpy())


@pytest.mark.parametrize("name", sorted(COUPLINGS))
def test_coupling_draws_only_given_samples(name):
    coupling = _coupling(name, [0, 1])
    x0, x1 = _clouds([0, 1], n=12 * coupling.aggregate)
    a, b = coupling.pair(x0, x1)
    assert a.shape == b.shape and a.shape[0] == 2
    for s in range(2):
        given0, given1 = set(_rows(x0[s])), set(_rows(x1[s]))
        assert set(_rows(a[s])) <= given0 and set(_rows(b[s])) <= given1
        if name in PERMUTATION_COUPLINGS:  # a permutation: every sample exactly once
            assert _rows(a[s]) == _rows(x0[s]) and _rows(b[s]) == _rows(x1[s])


@pytest.mark.parametrize("name", sorted(COUPLINGS))
def test_coupling_seed_alone_equals_seed_in_batch(name):
    alone, batch = _coupling(name, [1]), _coupling(name, [0, 1])
    x0, x1 = _clouds([0, 1], n=12 * alone.aggregate)
    for _ in range(2):
        a1, b1 = alone.pair(x0[1:], x1[1:])
        a2, b2 = batch.pair(x0, x1)
        assert torch.equal(a1[0], a2[1]) and torch.equal(b1[0], b2[1])


@pytest.mark.parametrize("name", sorted(COUPLINGS))
def test_coupling_state_round_trip_continues_bit_for_bit(name):
    coupling = _coupling(name, [0, 1])
    x0, x1 = _clouds([0, 1], n=12 * coupling.aggregate)
    coupling.pair(x0, x1)
    twin = _coupling(name, [0, 1])
    twin.load_state_dict(copy.deepcopy(coupling.state_dict()))
    for generator, source in zip(twin.context.generators, coupling.context.generators, strict=True):
        generator.set_state(source.get_state())
    for _ in range(2):
        a1, b1 = coupling.pair(x0, x1)
        a2, b2 = twin.pair(x0, x1)
        assert torch.equal(a1, a2) and torch.equal(b1, b2)


@pytest.mark.parametrize("name", sorted(COUPLINGS))
def test_coupling_rejects_unknown_keys(name):
    with pytest.raises(ValidationError):
        COUPLINGS[name].Config(no_such_key=1)
