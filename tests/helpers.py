"""Helpers shared by the tests: small scenarios of every task, flow contexts, clouds, and the
engine's step order by hand."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from sliceflow.flows import get_flow
from sliceflow.flows.base import FlowContext
from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.random import random_directions

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"


def make_context(seeds, n=30, d=2, dtype=torch.float64):
    gens = [torch.Generator().manual_seed(1000 + s) for s in seeds]
    return FlowContext(len(seeds), n, n, d, dtype, torch.device("cpu"), Euclidean(), gens, seeds)


def make_flow(name, manifold="euclidean", seeds=(0, 1), n=30, m=30, **params):
    """The flow ``name`` on ``manifold`` for these seeds, float64, d = 2, with ``params``."""
    space = MANIFOLDS[manifold]()
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    context = FlowContext(len(seeds), n, m, 2, torch.float64, torch.device("cpu"), space, gens,
                          list(seeds))  # fmt: skip
    cls = get_flow(name, manifold)
    return cls(cls.Config(**params), context)


def value_and_grad(flow, x, y):
    """The flow's loss per seed and its gradient in the particles."""
    x = x.detach().requires_grad_(True)
    loss = flow.loss(x, y)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


def clouds(seeds, n=30, d=2, dtype=torch.float64):
    """Per seed: the papers' uniform-cube source and a standard normal target."""
    xs, ys = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        xs.append(2.5 * (torch.rand(n, d, generator=g, dtype=dtype) - 0.5) + 1)
        ys.append(torch.randn(n, d, generator=g, dtype=dtype))
    return torch.stack(xs), torch.stack(ys)


def flow_steps(flow, x, y, steps=3, lr=0.05):
    """Engine order: inner update, loss, gradient, SGD step; returns (x, losses (S, steps))."""
    losses = []
    for _ in range(steps):
        flow.inner_update(x.detach(), y)
        x = x.detach().requires_grad_(True)
        loss = flow.loss(x, y)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        x = x.detach() - lr * grad
        losses.append(loss.detach())
    return x, torch.stack(losses, 1)


def ball_points(shape, radius=0.9, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(*shape, generator=gen, dtype=torch.float64)
    direction /= direction.norm(dim=-1, keepdim=True)
    r = radius * torch.rand(*shape[:-1], 1, generator=gen, dtype=torch.float64)
    return (direction * r).to(dtype)


_DGSWP = {"method": "dgswp", "hidden": [16, 8], "eps": 0.5, "n_perturbations": 8, "inner_lr": 0.2}
SMALL = {
    # two moons, SWD, 3 seeds, 60 steps: well under a second
    "flow": {
        "name": "small",
        "n_particles": 50,
        "steps": 60,
        "seeds": 3,
        "source": {"dataset": "uniform_cube"},
        "target": {"dataset": "two_moons"},
        "methods": [{"method": "swd", "lr": 1.0, "n_projections": 20}],
        "trace": {"every": 1},
        "snapshots": {"count": 4},
        "output": {"gif": False},
    },
    # the DGSWP paper's Fig. 1 clouds at 64 points, every plan method, 12 iterations
    "plan": {
        "name": "plan_small",
        "task": "plan",
        "n_points": 64,
        "steps": 12,
        "seeds": 3,
        "source": {"dataset": "dgswp_eight_gaussians"},
        "target": {"dataset": "dgswp_moons"},
        "methods": [
            {"method": "exact"},
            {"method": "min_swgg", "n_projections": 20},
            {"method": "min_swgg_opt", "inner_lr": 0.05},
            {**_DGSWP, "label": "dgswp_vr"},
            {
                **_DGSWP,
                "label": "dgswp_adam",
                "optimizer": "adam",
                "inner_lr": 0.01,
                "projection": "linear",
                "variance_reduction": False,
            },
        ],  # fmt: skip
        "snapshots": {"every": 4},
    },
    # 8 synthetic 1-D histograms on 32 bins, 2 atoms, 3 seeds: well under a second
    "dictionary": {
        "name": "wdl_small",
        "task": "dictionary",
        "steps": 12,
        "seeds": 3,
        "data": {
            "dataset": "gaussian_barycenters",
            "n_bins": 32,
            "n_data": 8,
            "means": [0.3, 0.7],
            "stds": [0.08, 0.05],
            "reg": 0.005,
        },
        "methods": [{"method": "wdl", "n_atoms": 2, "reg": 0.005, "n_iter": 10, "lr": 0.1}],
        "snapshots": {"every": 4},
        "shown": 3,
    },  # fmt: skip
    # Gaussian to shifted Gaussian in 2-D, two couplings, tiny network: about a second
    "flow_matching": {
        "name": "fm_small",
        "task": "flow_matching",
        "steps": 20,
        "seeds": 2,
        "source": {"dataset": "gaussian", "mean": 0.0, "cov": 1.0, "dim": 2},
        "target": {"dataset": "gaussian", "mean": 3.0, "cov": 0.25, "dim": 2, "n_samples": 600},
        "network": {"width": 16, "depth": 2},
        "batch_size": 32,
        "evaluation": {"n_samples": 60, "euler_steps": [1, 4], "show": 20},
        "trace": {"every": 5},
        "snapshots": {"steps": [0, 10, 20]},
        "methods": [
            {"method": "independent", "label": "icfm"},
            {"method": "dgswp", "label": "dgswp", "init_steps": 10, "aggregate": 3},
        ],
        "output": {"gif": False},
    },
}


def small_scenario(task: str = "flow", /, **changes) -> dict:
    """A scenario of ``task`` that runs in about a second (see ``SMALL``), a fresh copy with its
    top-level keys replaced by ``changes``."""
    return copy.deepcopy(SMALL[task]) | changes


def sphere_points(generators, count, d, dtype=torch.float64):
    """Uniform points on S^{d-1}, (S, count, d), one row per generator."""
    return random_directions(generators, count, d, dtype=dtype)


def node_paths(node, path=()) -> list[tuple]:
    """The path of every node of a YAML tree (mapping keys, list indices)."""
    paths = [path]
    if isinstance(node, dict):
        for key, child in node.items():
            paths += node_paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            paths += node_paths(child, (*path, index))
    return paths
