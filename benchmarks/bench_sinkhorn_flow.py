"""The sinkhorn flow of scenarios/sinkhorn_two_moons.yaml against GeomLoss's gradient-flow loop.

Same clouds (seed 0 of the scenario: 200 particles from the uniform square, 200 two-moons
samples), same Euler step, same number of steps, in one process. GeomLoss's example steps
``x <- x - lr_G * n * grad SamplesLoss("sinkhorn", p=2, blur)(x, y)`` with lr_G = 0.05 for
t in [0, 5]; sliceflow's loss is twice GeomLoss's (cost |x - y|^2 with reg = 2 blur^2), so the
same step is ``lr = lr_G * n / 2`` (the scenario's 5.0). GeomLoss anneals with its default
scaling 0.5 and no stopping rule; sliceflow stops at the scenario's tolerance. Printed: time per
step (median of the repeats) and the final exact W2^2 of each flow, and the mean distance between
the two flows' final particles.

Run: ``python benchmarks/bench_sinkhorn_flow.py [--repeats 3] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from geomloss import SamplesLoss

from sliceflow.flows import FlowContext, get_flow
from sliceflow.manifolds import MANIFOLDS
from sliceflow.ot.exact import exact_w2sq_batch
from sliceflow.scenario import load_scenario
from sliceflow.tasks.flow.clouds import make_clouds

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "sinkhorn_two_moons.yaml"
LR_GEOMLOSS = 0.05


def sliceflow_flow(spec, x, y, steps):
    manifold = MANIFOLDS["euclidean"]()
    context = FlowContext(1, x.shape[1], y.shape[1], 2, x.dtype, x.device, manifold,
                          [torch.Generator().manual_seed(0)], [0])  # fmt: skip
    flow = get_flow("sinkhorn")(spec.params, context)
    for _ in range(steps):
        xv = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(flow.loss(xv, y).sum(), xv)
        x = manifold.step(x, grad, spec.params.lr)
    return x, int(flow.unconverged.sum())


def geomloss_flow(spec, x, y, steps):
    loss = SamplesLoss("sinkhorn", p=2, blur=spec.params.blur, debias=spec.params.debias)
    x = x[0].clone()
    for _ in range(steps):
        xv = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(xv, y[0]), xv)
        x = x - LR_GEOMLOSS * x.shape[0] * grad  # the example's Euler step
    return x[None], 0


def timed(function, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scenario = load_scenario(SCENARIO, seeds=[0])
    manifold = MANIFOLDS["euclidean"]()
    x0, y = make_clouds(scenario, manifold, torch.float32, torch.device("cpu"))
    steps = scenario.steps
    assert abs(LR_GEOMLOSS * x0.shape[1] / 2 - scenario.methods[1].params.lr) < 1e-12
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{SCENARIO.name}, seed 0, {steps} steps; torch {torch.get_num_threads()} threads, "
          f"load average {load}")  # fmt: skip
    print(f"start: exact W2^2 {exact_w2sq_batch(x0, y, manifold)[0]:.4g}")
    for spec in scenario.methods:
        if spec.method != "sinkhorn":
            continue
        results = {}
        for name, flow in (("sliceflow", sliceflow_flow), ("GeomLoss", geomloss_flow)):
            seconds, (x, unconverged) = timed(
                lambda f=flow, s=spec: f(s, x0, y, steps), args.repeats
            )
            results[name] = x
            w2sq = exact_w2sq_batch(x, y, manifold)[0]
            note = f", {unconverged} unconverged steps" if name == "sliceflow" else ""
            print(f"  {spec.label:20s} {name:9s} {1000 * seconds / steps:8.2f} ms/step   "
                  f"final W2^2 {w2sq:.4g}{note}")  # fmt: skip
        gap = (results["sliceflow"] - results["GeomLoss"]).norm(dim=-1).mean()
        print(f"  {spec.label:20s} mean distance between the final particles {float(gap):.3g}")


if __name__ == "__main__":
    main()
