"""Core speed figures (issue 2). Prints medians of several runs and ratios; not a test.

1. One SWD gradient step with n = 100,000 particles, d = 2, L = 100 directions:
   sliceflow vs POT's ``ot.sliced_wasserstein_distance`` + autograd vs a plain torch sort version,
   on the same tensors, in this process.
2. Batching: one flow step of SWD on two_moons (n = 50) for 10 seeds as one batch vs 1 seed.

Run: ``python benchmarks/bench_core.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import ot
import torch
from _timing import median_time  # benchmarks/ is on sys.path when run as a script

from sliceflow.flows import FlowContext, get_flow
from sliceflow.manifolds import Euclidean
from sliceflow.ot.sliced._slicing import sliced_wasserstein2


def large_swd_step(repeats: int) -> None:
    n, d, n_projections = 100_000, 2, 100
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = torch.randn(n, d, generator=generator, dtype=torch.float64) + 1
    theta = torch.randn(n_projections, d, generator=generator, dtype=torch.float64)
    theta /= theta.norm(dim=1, keepdim=True)

    def sliceflow_step():
        xv = x.clone().requires_grad_(True)
        loss = sliced_wasserstein2(xv[None], y[None], theta[None]).sum()
        return torch.autograd.grad(loss, xv)[0]

    def pot_step():
        xv = x.clone().requires_grad_(True)
        loss = ot.sliced_wasserstein_distance(xv, y, projections=theta.T) ** 2
        return torch.autograd.grad(loss, xv)[0]

    def plain_torch_step():
        xv = x.clone().requires_grad_(True)
        px, py = xv @ theta.T, y @ theta.T
        loss = (px.sort(dim=0).values - py.sort(dim=0).values).square().mean()
        return torch.autograd.grad(loss, xv)[0]

    grads = [f() for f in (sliceflow_step, pot_step, plain_torch_step)]
    agree = max(float((g - grads[0]).abs().max()) for g in grads[1:])
    ours = median_time(sliceflow_step, repeats)
    pot = median_time(pot_step, repeats)
    plain = median_time(plain_torch_step, repeats)
    print(f"SWD gradient step, n=100000, d=2, L=100, float64 (median of {repeats}):")
    print(f"  sliceflow   {ours:8.3f} s")
    print(f"  POT+autograd{pot:8.3f} s   -> sliceflow is {pot / ours:5.1f}x faster (target >= 5x)")
    print(f"  plain torch {plain:8.3f} s   -> sliceflow is {plain / ours:5.1f}x faster")
    print(f"  largest gradient difference between the three: {agree:.2e}")


def batching(repeats: int, steps: int = 200) -> None:
    from sliceflow.datasets.euclidean import MoonsConfig, UniformCubeConfig, two_moons, uniform_cube

    def flow_steps(n_seeds: int) -> float:
        y = torch.tensor(np.stack([two_moons(MoonsConfig(), 50, s, None) for s in range(n_seeds)]))
        y = y.float()
        x0 = torch.tensor(
            np.stack([uniform_cube(UniformCubeConfig(), 50, s, 2) for s in range(n_seeds)])
        )
        x0 = x0.float()
        generators = [torch.Generator().manual_seed(s) for s in range(n_seeds)]
        context = FlowContext(n_seeds, 50, 50, 2, torch.float32, torch.device("cpu"),
                              Euclidean(), generators)  # fmt: skip
        flow = get_flow("swd")(get_flow("swd").Config(), context)

        def run():
            x = x0.clone()
            for _ in range(steps):
                xv = x.requires_grad_(True)
                (grad,) = torch.autograd.grad(flow.loss(xv, y).sum(), xv)
                x = (x - 0.01 * grad).detach()

        return median_time(run, repeats) / steps

    torch.set_num_threads(1)  # as the engine does for small clouds
    one, ten = flow_steps(1), flow_steps(10)
    print(f"Batching, SWD on two_moons, n=50, L=20 (median of {repeats}, per flow step):")
    print(f"  1 seed    {1e3 * one:7.3f} ms")
    print(f"  10 seeds  {1e3 * ten:7.3f} ms   -> {ten / one:4.2f}x one seed (target <= 2x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    large_swd_step(args.repeats)
    batching(args.repeats)
