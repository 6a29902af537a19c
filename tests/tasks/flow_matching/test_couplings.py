"""Couplings: exact OT pairs, permutation plans, 1-D optimality, per-seed streams, state."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from sliceflow.tasks.flow_matching.couplings import COUPLINGS, CouplingContext, get_coupling

get_coupling("independent")  # imports every coupling module


def _coupling(name, seeds, d=2, batch=32, **params):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    context = CouplingContext(len(seeds), d, batch, torch.float64, torch.device("cpu"), generators)
    cls = get_coupling(name)
    return cls(cls.Config(**params), context)


def _clouds(seeds, n, d=2):
    xs, ys = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(100 + s)
        xs.append(torch.randn(n, d, generator=g, dtype=torch.float64))
        ys.append(torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5 + 2)
    return torch.stack(xs), torch.stack(ys)


def _rows(points):
    return {tuple(np.round(p, 12)) for p in points.numpy()}


def test_unknown_coupling_names_the_known_ones():
    with pytest.raises(ValueError, match="did you mean 'dgswp'"):
        get_coupling("dgswq")
    assert {"independent", "minibatch_ot", "min_swgg", "dgswp"} <= set(COUPLINGS)


def test_minibatch_ot_draws_only_pairs_of_the_exact_plan():
    x0, x1 = _clouds([0, 1], 32)
    a, b = _coupling("minibatch_ot", [0, 1]).pair(x0, x1)
    for s in range(2):
        cost = ot.dist(x0[s].numpy(), x1[s].numpy())
        rows, cols = linear_sum_assignment(cost)  # generic data: the plan is this permutation
        pairs = zip(rows, cols, strict=True)
        matched = {tuple(x0[s, i].numpy()): tuple(x1[s, j].numpy()) for i, j in pairs}
        for p, q in zip(a[s].numpy(), b[s].numpy(), strict=True):
            assert matched[tuple(p)] == tuple(q)


@pytest.mark.parametrize("name", ["min_swgg", "dgswp"])
def test_sliced_plans_pair_every_sample_once_at_a_cost_at_least_w2(name):
    x0, x1 = _clouds([0, 1], 64)
    params = {"init_steps": 30} if name == "dgswp" else {}
    a, b = _coupling(name, [0, 1], batch=32, aggregate=2, **params).pair(x0, x1)
    for s in range(2):
        assert _rows(a[s]) == _rows(x0[s]) and _rows(b[s]) == _rows(x1[s])  # a permutation plan
        w2sq = ot.emd2([], [], ot.dist(x0[s].numpy(), x1[s].numpy()))
        assert (a[s] - b[s]).square().sum(-1).mean().item() >= w2sq - 1e-12


@pytest.mark.parametrize("name", ["min_swgg", "dgswp"])
def test_in_one_dimension_a_linear_projection_gives_the_optimal_plan(name):
    x0, x1 = _clouds([5], 40, d=1)
    params = {"init_steps": 2} if name == "dgswp" else {}
    a, b = _coupling(name, [5], d=1, batch=40, aggregate=1, **params).pair(x0, x1)
    w2sq = ot.emd2([], [], ot.dist(x0[0].numpy(), x1[0].numpy()))
    assert (a[0] - b[0]).square().sum(-1).mean().item() == pytest.approx(w2sq, rel=1e-12)


def test_dgswp_projection_steps_lower_the_plan_cost():
    x0, x1 = _clouds([0, 1, 2], 96)
    costs = []
    for steps in (0, 100):
        a, b = _coupling("dgswp", [0, 1, 2], batch=32, aggregate=3, init_steps=steps,
                         projection="mlp", hidden=8).pair(x0, x1)  # fmt: skip
        costs.append((a - b).square().sum(-1).mean(-1))
    assert bool((costs[1] < costs[0]).all())


@pytest.mark.parametrize("name", sorted(COUPLINGS))
def test_a_seed_couples_the_same_pairs_alone_or_in_a_batch(name):
    x0, x1 = _clouds([0, 1, 2], 32)
    special = {"dgswp": {"init_steps": 5}, "independent": {}, "sinkhorn": {"reg": 1.0}}
    params = special.get(name, {"aggregate": 1})
    batch, alone = _coupling(name, [0, 1, 2], **params), _coupling(name, [1], **params)
    a, b = batch.pair(x0, x1)
    a1, b1 = alone.pair(x0[1:2], x1[1:2])
    assert torch.equal(a[1], a1[0]) and torch.equal(b[1], b1[0])


def test_dgswp_state_round_trip_continues_bit_for_bit():
    x0, x1 = _clouds([0, 1], 64)
    first = _coupling("dgswp", [0, 1], aggregate=2, init_steps=10, projection="mlp", hidden=8)
    first.pair(x0, x1)
    saved = {k: v for k, v in first.state_dict().items()}
    generator_states = [g.get_state() for g in first.context.generators]
    expected = first.pair(x1, x0)
    second = _coupling("dgswp", [0, 1], aggregate=2, init_steps=10, projection="mlp", hidden=8)
    second.load_state_dict(saved)
    for g, state in zip(second.context.generators, generator_states, strict=True):
        g.set_state(state)
    got = second.pair(x1, x0)
    assert torch.equal(expected[0], got[0]) and torch.equal(expected[1], got[1])


@pytest.mark.parametrize("projection, pairs", [("linear", "shuffled"), ("mlp", "shuffled"),
                                               ("mlp", "sorted_slices")])  # fmt: skip
def test_dgswp_pairs_are_the_solvers_plan_on_the_aggregated_batch(projection, pairs):
    """The coupling is the solver: fit on the aggregate (init_steps, then steps_per_aggregate),
    the plan of the fitted projection, in the order ``pairs`` names."""
    from sliceflow.ot.sliced import DGSWPSolver
    from sliceflow.tasks.flow_matching.couplings.base import shuffled_pairs, sorted_pairs

    seeds, params = [0, 1], {"aggregate": 3, "init_steps": 7, "steps_per_aggregate": 6,
                             "projection": projection, "hidden": 8, "keep_best": True,
                             "pairs": pairs}  # fmt: skip
    coupling = _coupling("dgswp", seeds, batch=16, **params)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    solver = DGSWPSolver.from_config(coupling.config, 2, generators, dtype=torch.float64)
    assert torch.equal(solver.params, coupling.solver.params)
    for steps, flip in ((7, False), (6, True)):
        x0, x1 = _clouds(seeds, 48)
        x0, x1 = (x1, x0) if flip else (x0, x1)
        solver.fit(x0, x1, steps)
        orders = solver.orders(x0, x1)
        expected = shuffled_pairs(x0, x1, *orders, generators) if pairs == "shuffled" else (
            sorted_pairs(x0, x1, *orders))  # fmt: skip
        got = coupling.pair(x0, x1)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert torch.equal(solver.params, coupling.solver.params)
    assert [g.get_state().tolist() for g in generators] == [
        g.get_state().tolist() for g in coupling.context.generators
    ]


def test_dgswp_schedule_is_init_steps_then_steps_per_aggregate():
    """The authors' schedule: init_steps on the first aggregate, then steps_per_aggregate on each
    new one, whatever the aggregate (the former per-iteration schedule took aggregate x k)."""
    for per_aggregate in (0, 1, 4):
        coupling = _coupling("dgswp", [0, 1], batch=8, aggregate=3, init_steps=5,
                             steps_per_aggregate=per_aggregate)  # fmt: skip
        for _ in range(3):
            coupling.pair(*_clouds([0, 1], 24))
        assert coupling.solver.optimizer.step_count == 5 + 2 * per_aggregate


@pytest.mark.parametrize("projection", ["linear", "mlp"])
def test_dgswp_sorted_slices_follow_the_projection_and_draw_nothing(projection):
    """``pairs: sorted_slices`` (the default): pair i holds the i-th smallest projected source and
    target samples, so training minibatch k is the k-th contiguous slice along the projection;
    unlike ``shuffled``, no random draw after the fit."""
    x0, x1 = _clouds([0, 1], 48)
    coupling = _coupling("dgswp", [0, 1], batch=16, aggregate=3, init_steps=0,
                         projection=projection, hidden=8)  # fmt: skip
    assert coupling.config.pairs == "sorted_slices" and coupling.config.steps_per_aggregate == 1
    states = [g.get_state() for g in coupling.context.generators]
    a, b = coupling.pair(x0, x1)  # init_steps 0: no solver step, no draw at all
    assert all(torch.equal(g.get_state(), s) for g, s in zip(coupling.context.generators,
                                                             states, strict=True))  # fmt: skip
    models = coupling.solver.params.unsqueeze(1)
    for points in (a, b):
        values = coupling.solver.family.values(models, points)[:, 0]  # (S, P)
        assert bool((values.diff(dim=-1) >= 0).all())
    assert _rows(a[0]) == _rows(x0[0]) and _rows(b[1]) == _rows(x1[1])


def test_dgswp_rejects_the_renamed_key_naming_the_new_one():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="replaced by steps_per_aggregate"):
        get_coupling("dgswp").Config(steps_per_iteration=1)
    with pytest.raises(ValidationError, match="pairs"):
        get_coupling("dgswp").Config(pairs="random")


def test_sinkhorn_pairs_tend_to_independent_pairs_for_a_large_regularisation():
    """reg -> infinity: the entropic plan is the product of the marginals, so the mean squared
    length of the drawn pairs is the mean of the cost matrix (sampling error about 3% here)."""
    x0, x1 = _clouds([0, 1, 2, 3], 256)
    a, b = _coupling("sinkhorn", [0, 1, 2, 3], batch=256, reg=1e4).pair(x0, x1)
    drawn = (a - b).square().sum(-1).mean()
    product = torch.cdist(x0, x1).square().mean()
    assert drawn.item() == pytest.approx(product.item(), rel=0.1)
    assert {"sinkhorn", "minibatch_ot"} <= set(COUPLINGS)
