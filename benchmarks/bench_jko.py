"""JKO-SW speed figures (issue 6). Prints medians of several runs and ratios; not a test.

1. Wall time of ``sliceflow run scenarios/jko_fokker_planck.yaml`` (particles, d = 2; target
   under 2 minutes) and of the normalising-flow variant ``jko_fokker_planck_nf.yaml``, as
   subprocesses (CLI start-up, exact traces and reports included).
2. In process, one JKO step of the particle scenario's method (S = 5, n = 300, 50 inner steps,
   200 directions, quadratic potential + KDE entropy): ``jko_sw.implicit_step`` (seeds batched,
   SW and KDE gradients in closed form, numpy sorts) vs a naive baseline on the same particles:
   a loop over seeds and over terms, every term through autograd, SW through ``torch.sort``.

Run: ``python benchmarks/bench_jko.py [--repeats 3] [--skip-cli]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml
from _timing import median_time  # benchmarks/ is on sys.path when run as a script

from sliceflow.flows import FlowContext, get_flow
from sliceflow.flows.jko.functionals import kde_log_density
from sliceflow.manifolds import Euclidean
from sliceflow.ot.sliced._slicing import sliced_wasserstein2
from sliceflow.random import random_directions

ROOT = Path(__file__).resolve().parents[1]


def cli_run(scenario: str, repeats: int) -> float:
    def once():
        with tempfile.TemporaryDirectory() as out:
            command = ["sliceflow", "run", str(ROOT / "scenarios" / scenario), "--out", out]
            subprocess.run(command, check=True, capture_output=True)

    return median_time(once, repeats, warm_up=False)


def scenario_method(scenario: str) -> dict:
    data = yaml.safe_load((ROOT / "scenarios" / scenario).read_text())
    params = dict(data["methods"][0])
    for key in ("method", "label"):
        params.pop(key)
    return params


def naive_jko_step(x_k: torch.Tensor, params: dict, generators) -> torch.Tensor:
    """Per seed, per term, autograd everywhere (torch.sort for SW): the straightforward version."""
    tau, steps, lr, momentum = params["tau"], params["inner_steps"], params["inner_lr"], 0.5
    quadratic, entropy = params["functional"]
    a = torch.tensor(quadratic["A"], dtype=x_k.dtype)
    b = torch.tensor(quadratic["b"], dtype=x_k.dtype)
    out = []
    for seed, generator in enumerate(generators):
        x = x_k[seed : seed + 1].clone().requires_grad_(True)
        optimizer = torch.optim.SGD([x], lr=lr, momentum=momentum)
        for _ in range(steps):
            theta = random_directions([generator], params["n_projections"], 2, dtype=x.dtype)
            optimizer.zero_grad()
            objective = sliced_wasserstein2(x, x_k[seed : seed + 1], theta) / (2 * tau)
            objective = objective + 0.5 * (((x - b) @ a) * (x - b)).sum(-1).mean()
            log_rho = kde_log_density(x, entropy["bandwidth"], entropy["leave_one_out"])
            objective = objective + log_rho.mean()
            objective.sum().backward()
            optimizer.step()
        out.append(x.detach())
    return torch.cat(out)


def in_process(repeats: int) -> None:
    params = scenario_method("jko_fokker_planck.yaml")
    seeds, n, d = list(range(5)), 300, 2
    x_k = torch.stack(
        [0.5 * torch.randn(n, d, generator=torch.Generator().manual_seed(s)) for s in seeds]
    )

    def generators():
        return [torch.Generator().manual_seed(s) for s in seeds]

    def fast():
        context = FlowContext(
            n_seeds=len(seeds), n=n, m=n, d=d, dtype=torch.float32, device=torch.device("cpu"),
            manifold=Euclidean(), generators=generators(), seeds=seeds,
        )  # fmt: skip
        cls = get_flow("jko_sw", "euclidean")
        cls(cls.Config(**params), context).implicit_step(x_k, x_k)

    fast_time = median_time(fast, repeats)
    naive_time = median_time(lambda: naive_jko_step(x_k, params, generators()), repeats)
    print(f"one JKO step, S=5, n={n}, {params['inner_steps']} inner steps, "
          f"L={params['n_projections']}:")  # fmt: skip
    print(f"  jko_sw.implicit_step  {fast_time * 1e3:8.1f} ms")
    print(
        f"  naive per-seed loop   {naive_time * 1e3:8.1f} ms   ratio {naive_time / fast_time:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the engine does for small tensors (threads only spin-wait here)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread in process")
    in_process(args.repeats)
    if args.skip_cli:
        return
    for scenario in ("jko_fokker_planck.yaml", "jko_fokker_planck_nf.yaml"):
        seconds = cli_run(scenario, args.repeats)
        verdict = "" if scenario.endswith("_nf.yaml") else f"  (target < 120 s: {seconds < 120})"
        print(f"sliceflow run scenarios/{scenario}: median {seconds:6.1f} s{verdict}")


if __name__ == "__main__":
    sys.exit(main())
