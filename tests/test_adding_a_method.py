"""Adding a plan-based sliced method, as CONTRIBUTING.md describes it, done here for real.

The method: min-SWGG over the coordinate axes (the cheapest of the d monotone plans along
e_1, ..., e_d; no randomness). Its solver hook is the choice of slices, handed to the shared
min-SWGG solver; each family that wants the method gets a thin adapter: a particle flow, a plan
method and a flow-matching coupling. They are registered for this test only and then run through
the engine like any shipped method. ``ADAPTER_LINES`` is the size CONTRIBUTING.md quotes.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np
import ot
import pytest
import torch

from sliceflow.engine import run
from sliceflow.flows import FLOWS, Flow, FlowConfig, register
from sliceflow.ot.sliced import min_swgg_plan, plan_cost
from sliceflow.tasks.flow_matching.couplings import COUPLINGS, Coupling, CouplingConfig
from sliceflow.tasks.flow_matching.couplings import base as coupling_base
from sliceflow.tasks.plan.methods import PLAN_METHODS, PlanConfig, PlanMethod
from tests.helpers import small_scenario

ADAPTER_LINES = 8  # code lines of the largest adapter below (docstrings excluded)


def axes(x: torch.Tensor) -> torch.Tensor:
    """The solver hook: the d coordinate axes as slices, (S, d, d)."""
    return torch.eye(x.shape[-1], dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1)


class AxisSWGGFlow(Flow):
    """Particles descend the cost of the cheapest axis plan."""

    Config = FlowConfig

    def loss(self, x, y):
        return plan_cost(x, y, *min_swgg_plan(x, y, axes(x)))


class AxisSWGGPlan(PlanMethod):
    """The cheapest axis plan between the fixed clouds (one shot)."""

    Config = PlanConfig

    def orders(self):
        return min_swgg_plan(self.context.x, self.context.y, axes(self.context.x))


class AxisSWGGCoupling(Coupling):
    """Pairs along the cheapest axis plan of the aggregated minibatch."""

    Config = CouplingConfig

    def pair(self, x0, x1):
        sigma, tau = min_swgg_plan(x0, x1, axes(x0))
        return coupling_base.shuffled_pairs(x0, x1, sigma, tau, self.context.generators)


@pytest.fixture()
def registered():
    register("axis_swgg")(AxisSWGGFlow)
    PLAN_METHODS.register("axis_swgg")(AxisSWGGPlan)
    COUPLINGS.register("axis_swgg")(AxisSWGGCoupling)
    yield
    for registry in (FLOWS, PLAN_METHODS, COUPLINGS):
        del registry["axis_swgg"]


def _code_lines(cls) -> int:
    """Lines of code of a class, its docstring excluded."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return 1 + sum(node.end_lineno - node.lineno + 1 for node in body)  # + the class line


def _brute_force(x, y):
    """Per seed, the cheapest plan cost over the d axes, by sorting each coordinate."""
    costs = []
    for k in range(x.shape[1]):
        order_x, order_y = np.argsort(x[:, k], kind="stable"), np.argsort(y[:, k], kind="stable")
        costs.append(np.mean(np.sum((x[order_x] - y[order_y]) ** 2, axis=1)))
    return min(costs)


def test_each_adapter_is_a_few_lines():
    for cls in (AxisSWGGFlow, AxisSWGGPlan, AxisSWGGCoupling):
        assert _code_lines(cls) <= ADAPTER_LINES


def test_the_flow_loss_is_the_cheapest_axis_plan_and_at_least_w2(registered):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, 3, generator=g, dtype=torch.float64)
    y = torch.rand(2, 40, 3, generator=g, dtype=torch.float64) + 1
    loss = AxisSWGGFlow(FlowConfig(), None).loss(x, y)
    for s in range(2):
        xs, ys = x[s].numpy(), y[s].numpy()
        assert float(loss[s]) == pytest.approx(_brute_force(xs, ys), rel=1e-12)
        w2 = ot.emd2(ot.unif(40), ot.unif(40), ot.dist(xs, ys))
        assert float(loss[s]) >= w2 - 1e-12


def test_the_new_method_runs_in_every_family(registered, tmp_path):
    flow = run(small_scenario(methods=[{"method": "axis_swgg", "lr": 1.0}], steps=20),
               out=tmp_path / "flow", render=False)  # fmt: skip
    values = flow.w2sq("axis_swgg")  # (S, traced steps) exact W2^2
    assert np.all(values[:, -1] < values[:, 0])  # the particles moved toward the target
    plan = run({"name": "plan", "task": "plan", "n_points": 64, "steps": 2, "seeds": 2,
                "source": {"dataset": "dgswp_eight_gaussians"},
                "target": {"dataset": "dgswp_moons"},
                "methods": [{"method": "exact"}, {"method": "axis_swgg"}]},
               out=tmp_path / "plan", render=False)  # fmt: skip
    exact, axis = plan.w2sq("exact"), plan.w2sq("axis_swgg")
    assert np.all(axis >= exact - 1e-9)  # a plan never beats the optimum
    generators = [torch.Generator().manual_seed(s) for s in range(2)]
    context = coupling_base.CouplingContext(2, 2, 16, torch.float64, torch.device("cpu"),
                                            generators)  # fmt: skip
    x0, x1 = torch.randn(2, 16, 2, dtype=torch.float64), torch.rand(2, 16, 2, dtype=torch.float64)
    a, b = AxisSWGGCoupling(CouplingConfig(), context).pair(x0, x1)
    for s in range(2):  # a permutation plan: every sample paired exactly once
        assert sorted(map(tuple, a[s].tolist())) == sorted(map(tuple, x0[s].tolist()))
        assert sorted(map(tuple, b[s].tolist())) == sorted(map(tuple, x1[s].tolist()))
