"""Per-flow-step time of the DGSWP paper's Euclidean flows, per seed inside a 10-seed batch.

A flow step is what the engine does: ``inner_update`` + ``loss`` + backward + particle update.
Setting of the paper's Fig. 4: n = 50, d = 2, 20 directions / inner steps (ASWD: 10), N = 10
perturbations, MLP width 256. Prints medians over repeats; the only ratio is against a baseline
timed in this process: a naive DGSWP written the way the reference does it (N deep copies of an
``nn.Module`` in a Python loop, seed by seed). The timings of the paper's own implementation are
printed beside ours as labelled reference figures from another day, not divided by.

    python benchmarks/bench_flows.py [--threads 2] [--repeats 7] [--steps 20]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from sliceflow.flows import get_flow
from sliceflow.flows.base import FlowContext
from sliceflow.manifolds.euclidean import Euclidean

S, N_POINTS, DIM = 10, 50, 2
# Reference figures, not a baseline of this run: the DGSWP paper's own code (github.com/rtavenar/
# dgswp), per flow step and seed, measured on a machine of this kind for commit 74969e2 (1 thread).
PAPER_MS_DATE = "2026-11-22 (commit 74969e2)"
PAPER_MS = {
    "swd": 1.6, "max_sw": 12.0, "aswd": 14.0, "min_swgg": 1.9,
    "min_swgg_opt": 26.0, "dgswp_linear": 87.0, "dgswp_nn": 320.0,
}  # fmt: skip
METHODS = {
    "swd": ("swd", {}),
    "max_sw": ("max_sw", {}),
    "aswd": ("aswd", {}),
    "min_swgg": ("min_swgg", {}),
    "min_swgg_opt": ("min_swgg_opt", {}),
    "dgswp_linear": ("dgswp", {"projection": "linear"}),
    "dgswp_nn": ("dgswp", {"projection": "mlp", "hidden": 256}),
}


def clouds(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = 2.5 * (torch.rand(S, N_POINTS, DIM, generator=g) - 0.5) + 1
    return x, torch.randn(S, N_POINTS, DIM, generator=g)


def make_flow(label: str):
    name, params = METHODS[label]
    cls = get_flow(name)
    gens = [torch.Generator().manual_seed(s) for s in range(S)]
    context = FlowContext(
        S, N_POINTS, N_POINTS, DIM, torch.float32, torch.device("cpu"), Euclidean(), gens
    )
    return cls(cls.Config(**params), context)


def flow_step(flow, x, y, lr=0.01):
    flow.inner_update(x.detach(), y)
    x = x.detach().requires_grad_(True)
    flow.loss(x, y).sum().backward()
    return flow.context.manifold.step(x.detach(), x.grad, lr)


def time_flow(label: str, steps: int, repeats: int) -> tuple[float, float]:
    """Medians over repeats of (wall, CPU) time of ``steps`` flow steps / (steps * S), in ms
    per seed. With one thread, CPU time is the process's own work: on a machine shared with
    other jobs it is the steadier figure."""
    x, y = clouds()
    flow = make_flow(label)
    for _ in range(3):
        x = flow_step(flow, x, y)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            x = flow_step(flow, x, y)
        wall.append((time.perf_counter() - start) / (steps * S) * 1e3)
        cpu.append((time.process_time() - start_cpu) / (steps * S) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def naive_dgswp_step(models, optimizers, x, y, n_pert=10, eps=0.05, inner=20, lr=0.01):
    """The reference's way: per seed, per inner step, N deep copies perturbed in a loop."""
    new_x = []
    for s, (model, opt) in enumerate(zip(models, optimizers, strict=True)):
        xs, ys = x[s], y[s]

        def cost(m, xs=xs, ys=ys):
            with torch.no_grad():
                i, j = m(xs).squeeze(-1).argsort(), m(ys).squeeze(-1).argsort()
            return (xs[i] - ys[j]).square().sum(-1).mean()

        for _ in range(inner):
            base = cost(model).detach()
            grads = [torch.zeros_like(p) for p in model.parameters()]
            for _ in range(n_pert):
                copy_ = copy.deepcopy(model)
                noises = []
                with torch.no_grad():
                    for p in copy_.parameters():
                        noises.append(torch.randn_like(p))
                        p.add_(eps * noises[-1])
                delta = cost(copy_).detach() - base
                for g, z in zip(grads, noises, strict=True):
                    g.add_(delta * z / (eps * n_pert))
            opt.zero_grad()
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = g
            opt.step()
        xr = xs.detach().requires_grad_(True)
        with torch.no_grad():
            i, j = model(xr).squeeze(-1).argsort(), model(ys).squeeze(-1).argsort()
        (xr[i] - ys[j]).square().sum(-1).mean().backward()
        new_x.append(xr.detach() - lr * xr.grad)
    return torch.stack(new_x)


def time_naive(hidden: int, steps: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    x, y = clouds()
    models = [
        torch.nn.Sequential(
            torch.nn.Linear(DIM, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )
        for _ in range(S)
    ]
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.01) for m in models]
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            x = naive_dgswp_step(models, optimizers, x, y)
        wall.append((time.perf_counter() - start) / (steps * S) * 1e3)
        cpu.append((time.process_time() - start_cpu) / (steps * S) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="1 = what the engine uses here")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="flow steps per timed repeat")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); S={S}, n={N_POINTS}, d={DIM}")
    print("ms per flow step and seed (median of this run); reference: the paper's code, measured")
    print(f"on {PAPER_MS_DATE} (another run: a rough comparison only, not a measured ratio)")
    print(f"{'method':14s} {'wall':>8s} {'cpu':>8s} {'reference':>10s}")
    timings = {}
    for label in METHODS:
        wall, cpu = timings[label] = time_flow(label, args.steps, args.repeats)
        print(f"{label:14s} {wall:8.3f} {cpu:8.3f} {PAPER_MS[label]:8.1f}ms")
    wall, cpu = time_naive(256, 1, 3)
    ours_wall, ours_cpu = timings["dgswp_nn"]
    print(f"\nnaive DGSWP NN (N deep copies in a loop, seed by seed): {wall:.1f} ms, {cpu:.1f} cpu")
    print(f"batched dgswp_nn: {wall / ours_wall:.1f}x (wall), {cpu / ours_cpu:.1f}x (cpu) faster")


if __name__ == "__main__":
    main()
