"""Speed of the Poincaré-ball flows (issue 4): medians of several runs and a ratio; not a test.

1. End to end: ``sliceflow run scenarios/poincare_wnd.yaml --methods hhsw,swd,dgswp --no-gif``
   (3 methods x 10 seeds x 300 steps, exact geodesic W2^2 at every step; target <= 60 s), timed
   as a subprocess, plus the per-method median final log10 W2^2 read from ``summary.csv``.
2. Baseline in this process: the paper's way, one seed at a time, geoopt ``RiemannianSGD`` on a
   ``ManifoldParameter``, torch sorts, and for DGSWP a Python loop over N deep-copied vMF
   perturbations (scipy's ``vonmises_fisher``) at each of the 100 inner steps, with ``ot.emd2``
   traces. It is far too slow to run in full: ``--baseline-steps`` steps of one seed are timed
   and scaled to 10 seeds x 300 steps (every step costs the same), which the output states.

Run: ``python benchmarks/bench_poincare.py [--repeats 3] [--baseline-steps 5]``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geoopt
import numpy as np
import ot
import torch
from scipy.stats import vonmises_fisher

from sliceflow.datasets import get_dataset

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "poincare_wnd.yaml"
METHODS = "hhsw,swd,dgswp"
BALL = geoopt.PoincareBall(c=torch.tensor(1.0, dtype=torch.float64))


def run_cli(out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is the fairer figure on a busy machine."""
    program = shutil.which("sliceflow")
    launcher = (
        [program] if program else [sys.executable, "-c", "from sliceflow.cli import main; main()"]
    )
    command = [*launcher, "run", str(SCENARIO), "--out", str(out)]
    command += ["--methods", METHODS, "--no-gif", "--no-progress"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def final_medians(out: Path) -> dict[str, float]:
    with open(out / "summary.csv") as stream:
        rows = list(csv.DictReader(stream))
    last = max(int(r["step"]) for r in rows)
    return {r["method"]: float(r["median"]) for r in rows if int(r["step"]) == last}


# -- the naive baseline ------------------------------------------------------------------------
def exact_w2(x: torch.Tensor, y: torch.Tensor) -> float:
    cost = BALL.dist(x.detach()[:, None], y[None]).square().numpy()
    return float(ot.emd2([], [], cost))


def busemann(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    gap = (p[None] - x[:, None]).square().sum(-1)  # (n, L)
    return torch.log(gap / (1 - x.square().sum(-1, keepdim=True)))


def w2_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.sort(dim=0).values - b.sort(dim=0).values).square().mean()


def plan_cost(x: torch.Tensor, y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    sigma = busemann(x, p[None])[:, 0].argsort()
    tau = busemann(y, p[None])[:, 0].argsort()
    return BALL.dist(x[sigma], y[tau]).square().mean()


def naive_seed(method: str, x0: np.ndarray, y0: np.ndarray, steps: int) -> None:
    lr = {"dgswp": 2.5 / 3}.get(method, 2.5)
    x = geoopt.ManifoldParameter(torch.tensor(x0), manifold=BALL)
    y = torch.tensor(y0)
    optimizer = geoopt.optim.RiemannianSGD([x], lr=lr, stabilize=1)
    sphere = geoopt.Sphere()
    p = geoopt.ManifoldParameter(sphere.random(2, dtype=torch.float64), manifold=sphere)
    inner = geoopt.optim.RiemannianSGD([p], lr=0.01)
    for _ in range(steps):
        theta = torch.nn.functional.normalize(torch.randn(100, 2, dtype=torch.float64), dim=1)
        if method == "hhsw":
            loss = w2_1d(busemann(x, theta), busemann(y, theta))
        elif method == "swd":
            loss = w2_1d(x @ theta.T, y @ theta.T)
        else:
            xd = x.detach()
            for _ in range(100):
                base = plan_cost(xd, y, p.detach())
                grad = torch.zeros(2, dtype=torch.float64)
                for _ in range(10):
                    copy_p = copy.deepcopy(p.detach())
                    mu = copy_p.numpy() / np.linalg.norm(copy_p.numpy())
                    sample = torch.tensor(vonmises_fisher(mu, 400.0).rvs(1)[0])
                    delta = plan_cost(xd, y, sample) - base
                    grad += 400.0 * delta * (sample - (sample @ copy_p) * copy_p) / 10
                p.grad = grad
                inner.step()
            loss = plan_cost(x, y, p.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        exact_w2(x, y)


def baseline_seconds(steps: int) -> dict[str, float]:
    source, target = get_dataset("wrapped_normal"), get_dataset("wrapped_normal")
    x0 = source.sample(source.Config(), 50, 0, None)
    y0 = target.sample(target.Config(mean=[1.5, 1.25**0.5, 0.0], cov=0.1), 50, 0, None)
    times = {}
    for method in METHODS.split(","):
        naive_seed(method, x0, y0, 1)  # warm-up: geoopt's scripted functions compile on first use
        start = time.perf_counter()
        naive_seed(method, x0, y0, steps)
        times[method] = (time.perf_counter() - start) / steps * 300 * 10
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [run_cli(Path(tmp) / f"run{i}") for i in range(args.repeats)]
        medians = final_medians(Path(tmp) / "run0")
    times = [round(wall, 1) for wall, _ in runs]
    ours = statistics.median(wall for wall, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    print(f"sliceflow run poincare_wnd.yaml ({METHODS}, 10 seeds x 300 steps, trace every step)")
    print(f"  wall time: median {ours:.1f} s over {args.repeats} runs {times}")
    print(f"  CPU time of the run: median {cpu:.1f} s (load average {os.getloadavg()[0]:.1f})")
    print(f"  target <= 60 s: {'met' if ours <= 60 else 'MISSED'}")
    for label, value in medians.items():
        print(f"  {label:6s} median final log10 W2^2 = {value:.3f}")
    naive = baseline_seconds(args.baseline_steps)
    total = sum(naive.values())
    print(f"naive per-seed baseline ({args.baseline_steps} steps of 1 seed, scaled to 10 x 300):")
    for label, seconds in naive.items():
        print(f"  {label:6s} {seconds:8.0f} s")
    print(
        f"  total {total:.0f} s ({total / 60:.1f} min); ratio baseline / sliceflow = "
        f"{total / ours:.0f}x"
    )


if __name__ == "__main__":
    main()
