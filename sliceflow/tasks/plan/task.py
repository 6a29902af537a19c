"""Plans between fixed clouds (``task: plan``): the DGSWP paper's Sec. 5.1 as a kind of run.

Per seed, a source and a target cloud of ``n_points`` stay fixed; each method
(``sliceflow.tasks.plan.methods``:
exact, sinkhorn, min_swgg, min_swgg_opt, dgswp) holds a plan and may improve it step by step.
The trace is the plan cost ``<C, pi>`` next to the exact W2^2; snapshots are the plans
themselves (``perm[i]``: the target of source point i). Seeds are initialisations of the learned
projections; ``data_seed`` draws the same clouds for every seed, as the paper does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sliceflow.datasets import Stream
from sliceflow.errors import ScenarioError
from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.ot.exact import exact_assignment
from sliceflow.ot.policy import is_tiny
from sliceflow.ot.sliced._plans import PlanCosts
from sliceflow.rundir import TraceSchema
from sliceflow.scenario.clouds import sample_distribution
from sliceflow.scenario.models import MethodSpec
from sliceflow.tasks import register_task
from sliceflow.tasks.base import Stepper, Task, cpu_clone
from sliceflow.tasks.plan.methods import PLAN_METHODS, PlanContext, get_plan_method
from sliceflow.tasks.plan.scenario import PlanScenario, resolve_plan_scenario


def plan_clouds(scenario: PlanScenario, dtype: torch.dtype, device) -> tuple:
    """(x (S, n, d), y (S, n, d)): seed i's clouds from ``Stream(i, side)``, or every seed the
    clouds of ``Stream(data_seed, side)``."""
    drawn: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    sources, targets = [], []
    for seed in scenario.seeds:
        key = seed if scenario.data_seed is None else scenario.data_seed
        if key not in drawn:
            drawn[key] = _one_seed(scenario, key, dtype)
        sources.append(drawn[key][0])
        targets.append(drawn[key][1])
    x = torch.from_numpy(np.stack(sources)).to(device=device, dtype=dtype)
    y = torch.from_numpy(np.stack(targets)).to(device=device, dtype=dtype)
    return x, y


def _one_seed(scenario: PlanScenario, key: int, dtype: torch.dtype) -> tuple:
    n, count = scenario.n_points, ("n_points",)
    y, y_where = sample_distribution(
        scenario.target, n, Stream(key, "target"), scenario.dim, scenario, "target", count
    )
    x, x_where = sample_distribution(
        scenario.source, n, Stream(key, "source"), y.shape[1], scenario, "source", count
    )
    for side, points, where in (("source", x, x_where), ("target", y, y_where)):
        try:
            Euclidean().validate_points(torch.from_numpy(points), where)
            if dtype != torch.float64:  # a large coordinate may overflow the run's dtype
                Euclidean().validate_points(torch.from_numpy(points).to(dtype), where)
        except ValueError as error:
            raise ScenarioError(str(error), source=scenario.name, path=(side,)) from None
    if x.shape != y.shape:
        raise ScenarioError(
            f"source has shape {x.shape} but target has {y.shape}; a permutation plan needs "
            "as many points in the same dimension on both sides",
            source=scenario.name,
            path=("source",),
        )
    return x, y


@register_task("plan")
class PlanTask(Task):
    """Plans between fixed clouds; trace ``plan_cost`` and the exact ``w2sq``."""

    Scenario = PlanScenario
    schema = TraceSchema(("plan_cost", "w2sq"), "plan_cost", "plan cost <C, pi>")
    resolve_scenario = staticmethod(resolve_plan_scenario)

    @classmethod
    def catalogue(cls) -> list[tuple[str, Mapping[str, Any]]]:
        return [("methods", PLAN_METHODS)]

    def __init__(self, scenario: PlanScenario, device: torch.device) -> None:
        super().__init__(scenario, device)
        self.x, self.y = plan_clouds(scenario, getattr(torch, scenario.dtype), device)
        # Few dimensions, many points: matched coordinates stay in cache, a Gram matrix does not.
        n, d = self.x.shape[1:]
        self.costs = PlanCosts(self.x, self.y, by_coordinate=64 * d <= n)
        self._exact: tuple[np.ndarray, np.ndarray] | None = None  # solved on first use

    def exact(self) -> tuple[np.ndarray, np.ndarray]:
        """Optimal permutations (S, n) and exact W2^2 (S,), solved once per distinct cloud."""
        if self._exact is None:
            x64, y64 = self.x.detach().double().cpu(), self.y.detach().double().cpu()
            solved: dict[int, tuple[np.ndarray, float]] = {}
            perms, values = [], []
            for s, seed in enumerate(self.scenario.seeds):
                key = seed if self.scenario.data_seed is None else self.scenario.data_seed
                if key not in solved:
                    cost = torch.cdist(x64[s], y64[s]).square().numpy()  # (n, n)
                    perm = exact_assignment(cost)
                    solved[key] = (perm, float(cost[np.arange(len(perm)), perm].mean()))
                perms.append(solved[key][0])
                values.append(solved[key][1])
            self._exact = (np.stack(perms), np.array(values))
        return self._exact

    def build_stepper(self, spec) -> PlanStepper:
        return PlanStepper(spec, self.scenario.seeds, self, self.scenario.steps)

    def snapshot_shape(self) -> tuple[tuple[int, ...], np.dtype]:
        return tuple(self.x.shape[:2]), np.dtype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"source": self.x.cpu().numpy(), "target": self.y.cpu().numpy()}

    def small(self) -> bool:
        """Plan runs are tiny for the size policy at any size: the work is many small matrix
        products, where threads cost more than they give; ``--jobs`` runs the methods side by
        side instead."""
        return is_tiny(self.x.numel(), "plan")


class PlanStepper(Stepper):
    """One plan method, all seeds batched; seed i draws from its own generator."""

    def __init__(self, spec: MethodSpec, seeds: list[int], task: PlanTask, steps: int) -> None:
        self.label, self.steps, self.task = spec.label, steps, task
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        context = PlanContext(task.x, task.y, task.costs, self.generators, task.exact)
        self.method = get_plan_method(spec.method)(spec.params, context)
        self.step, self.elapsed = 0, 0.0

    def advance(self, want_values: bool) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        last = self.step >= self.steps
        self.method.advance(last)
        self.elapsed += time.perf_counter() - start
        if not last:
            self.step += 1
        return {}

    def measure(self, note=None) -> dict[str, np.ndarray]:
        """The held plan's cost (its computation counts in elapsed_s) and the exact W2^2."""
        start = time.perf_counter()
        cost = self.method.cost(self.step >= self.steps).double().cpu().numpy()
        self.elapsed += time.perf_counter() - start
        if note is not None and self.task._exact is None:
            note("exact W2^2 (once per cloud)")
        return {"plan_cost": cost, "w2sq": self.task.exact()[1]}

    def snapshot(self) -> np.ndarray:
        return self.method.targets().cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "method": cpu_clone(self.method.state_dict()),
            "generators": [g.get_state() for g in self.generators],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.method.load_state_dict(state["method"])
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)
