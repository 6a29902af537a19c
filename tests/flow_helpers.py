"""Helpers shared by the flow tests: contexts, clouds, and the engine's step order by hand."""

from __future__ import annotations

import torch

from sliceflow.flows.base import FlowContext
from sliceflow.manifolds.euclidean import Euclidean


def make_context(seeds, n=30, d=2, dtype=torch.float64):
    gens = [torch.Generator().manual_seed(1000 + s) for s in seeds]
    return FlowContext(len(seeds), n, n, d, dtype, torch.device("cpu"), Euclidean(), gens, seeds)


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
