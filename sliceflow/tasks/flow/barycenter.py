"""Barycentre flows: particles descending ``sum_k w_k D(x, Y_k)`` toward several weighted targets.

Every flow works unchanged: the particle stepper holds one instance of the method per target
(each sized for its target), all sharing the seed's generators and called in the targets' order,
so a run is deterministic and ``--resume`` continues bit for bit. The exact trace becomes
``sum_k w_k W2^2(x, Y_k)``; the references are the objective reached by POT's
``ot.lp.free_support_barycenter`` from the same initial particles and, when every target is a
Gaussian, the closed-form Bures-Wasserstein barycentre.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sliceflow.flows import FlowContext, get_flow
from sliceflow.ot.exact import exact_w2sq_batch
from sliceflow.tasks.flow.clouds import WeightedTargets


class WeightedFlows:
    """``sum_k w_k D_k(x, Y_k)`` from one flow instance per target (same method, same seeds'
    generators, called in the order of the targets)."""

    implicit = False

    def __init__(self, flows: list, weights: list[float]) -> None:
        if any(flow.implicit for flow in flows):
            raise ValueError(
                "this method takes implicit (JKO) steps, which do not add up over several "
                "targets; give it a single target"
            )
        self.flows, self.weights = flows, weights

    def inner_update(self, x: torch.Tensor, y: WeightedTargets) -> None:
        for flow, cloud in zip(self.flows, y.clouds, strict=True):
            flow.inner_update(x, cloud)

    def loss(self, x: torch.Tensor, y: WeightedTargets) -> torch.Tensor:
        """.. math:: \\sum_k w_k D(x, Y_k), \\quad (S,)"""
        total = None
        for flow, cloud, weight in zip(self.flows, y.clouds, self.weights, strict=True):
            term = weight * flow.loss(x, cloud)
            total = term if total is None else total + term
        return total

    def extra_metrics(self, x: torch.Tensor, y: WeightedTargets, step: int) -> dict:
        """Each flow's metrics, suffixed ``_target<k>``."""
        found = {}
        for k, (flow, cloud) in enumerate(zip(self.flows, y.clouds, strict=True)):
            metrics = flow.extra_metrics(x, cloud, step)
            found |= {f"{name}_target{k}": value for name, value in metrics.items()}
        return found

    def counters(self) -> dict[str, np.ndarray]:
        """Each flow's event counts, summed over the targets (e.g. unconverged Sinkhorn solves)."""
        total: dict[str, np.ndarray] = {}
        for flow in self.flows:
            for name, counts in flow.counters().items():
                total[name] = total.get(name, 0) + np.asarray(counts)
        return total

    def state_dict(self) -> dict[str, Any]:
        return {"flows": [flow.state_dict() for flow in self.flows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for flow, saved in zip(self.flows, state["flows"], strict=True):
            flow.load_state_dict(saved)


def check_methods(scenario, manifold) -> None:
    """ScenarioError (one line) for a method that cannot descend a weighted sum of targets."""
    from sliceflow.errors import ScenarioError

    for index, spec in enumerate(scenario.methods):
        if getattr(get_flow(spec.method, manifold.name), "implicit", False):
            raise ScenarioError(
                f"method {spec.method!r} takes implicit (JKO) steps, which do not add up over "
                "several targets; give it a single target",
                source=scenario.name,
                path=("methods", index),
            )


def build_flow(spec, manifold, x0: torch.Tensor, y, generators, seeds):
    """The method's flow for a single target (S, m, d), or WeightedFlows for WeightedTargets."""
    S, n, d = x0.shape
    clouds = y.clouds if isinstance(y, WeightedTargets) else [y]
    flows = []
    for cloud in clouds:
        context = FlowContext(
            n_seeds=S, n=n, m=cloud.shape[1], d=d, dtype=x0.dtype, device=x0.device,
            manifold=manifold, generators=generators, seeds=list(seeds),
        )  # fmt: skip
        flows.append(get_flow(spec.method, manifold.name)(spec.params, context))
    return WeightedFlows(flows, y.weights) if isinstance(y, WeightedTargets) else flows[0]


def exact_objective(x: torch.Tensor, y, manifold, solver: str, note=None) -> np.ndarray:
    """Exact ``W2^2(x, y)`` per seed, or ``sum_k w_k W2^2(x, Y_k)`` for WeightedTargets: (S,)."""
    if not isinstance(y, WeightedTargets):
        return exact_w2sq_batch(x, y, manifold, solver, note)
    total = np.zeros(x.shape[0])
    for cloud, weight in zip(y.clouds, y.weights, strict=True):
        total += weight * exact_w2sq_batch(x, cloud, manifold, solver, note)
    return total


def free_support_reference(x0: torch.Tensor, y: WeightedTargets, manifold, solver: str) -> list:
    """Per seed, ``sum_k w_k W2^2(X*, Y_k)`` at POT's ``ot.lp.free_support_barycenter`` X*,
    started from the flows' initial particles (uniform weights, squared Euclidean cost)."""
    import ot

    values = []
    for s in range(x0.shape[0]):
        start = x0[s].detach().double().cpu().numpy()
        locations = [cloud[s].detach().double().cpu().numpy() for cloud in y.clouds]
        uniform = [np.full(len(p), 1 / len(p)) for p in locations]
        found = ot.lp.free_support_barycenter(
            locations, uniform, start, weights=np.array(y.weights), numItermax=200, stopThr=1e-9
        )
        x = torch.from_numpy(np.asarray(found))[None]
        values.append(float(exact_objective(x, _seed(y, s), manifold, solver)[0]))
    return values


def _seed(y: WeightedTargets, s: int) -> WeightedTargets:
    return WeightedTargets([cloud[s : s + 1].double().cpu() for cloud in y.clouds], y.weights)


def bures_reference(scenario) -> dict[str, list] | None:
    """When every target is the ``gaussian`` dataset (Euclidean): per seed the Bures-Wasserstein
    barycentre's mean, covariance and objective ``sum_k w_k W2^2(N(m*, S*), N(m_k, S_k))``."""
    from sliceflow.datasets import Stream
    from sliceflow.datasets.euclidean import gaussian_parameters
    from sliceflow.ot.gaussian import bures_barycenter, bures_w2sq

    targets = scenario.targets
    if scenario.manifold.name != "euclidean" or any(t.dataset != "gaussian" for t in targets):
        return None
    weights = torch.tensor(scenario.target_weights(), dtype=torch.float64)
    found: dict[str, list] = {"mean": [], "cov": [], "objective": []}
    for seed in scenario.seeds:
        laws = [gaussian_parameters(t.params, Stream(seed, "target", index=k), scenario.dim)[:2]
                for k, t in enumerate(targets)]  # fmt: skip
        means = torch.tensor(np.stack([m for m, _ in laws]))  # (K, d)
        covs = torch.tensor(np.stack([c for _, c in laws]))  # (K, d, d)
        mean, cov = bures_barycenter(means, covs, weights)
        K = len(targets)
        terms = bures_w2sq(mean.expand(K, -1), cov.expand(K, -1, -1), means, covs)  # (K,)
        found["mean"].append(mean.tolist())
        found["cov"].append(cov.tolist())
        found["objective"].append(float((weights * terms).sum()))
    return found


def references(scenario, x0: torch.Tensor, y: WeightedTargets, manifold) -> dict[str, Any]:
    """What scenario.yaml's ``run.references`` records for a barycentre flow (see module doc)."""
    found: dict[str, Any] = {}
    if manifold.name == "euclidean":
        found["free_support_barycenter"] = free_support_reference(
            x0, y, manifold, scenario.trace.solver
        )
    bures = bures_reference(scenario)
    if bures is not None:
        found["bures"] = bures
    return found
