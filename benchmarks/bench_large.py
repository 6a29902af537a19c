"""Million-particle flows: seconds per flow step against NumPy's sort floor, and peak memory.

For n = 10^4, 10^5, 10^6 particles (d = 3, L = 50, one seed, float32), one full SWD flow step as
the engine runs it (loss, gradient, particle update) is timed next to the time NumPy needs just to
sort the same projected values (NumPy's in-place sort of the (L, n) projections of the particles
and of the (L, n) projections of the targets, copied into a warm buffer): the floor of any exact
sliced step. Both run on one thread, as NumPy's sorts do. Step and
floor are measured alternately in the same process; medians of ``--repeats`` runs, in wall time
and in this process's CPU time (steadier on a shared machine: other jobs do not count). Target: a
step within 2x of the floor.

Peak memory: each size runs in a fresh process; the step's peak resident memory above the memory
held before the first step (particles, targets and their gradient included) is printed in MB and
as a multiple of the particle array (n x d float32). Max-SW, min-SWGG and HHSW (float64, on the
ball, L = 100) are timed at the same sizes with ``--all``.

Run: ``python benchmarks/bench_large.py [--repeats 5] [--sizes 10000,100000,1000000] [--all]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from sliceflow.engine.loop import keep_freed_memory
from sliceflow.flows import FlowContext, get_flow
from sliceflow.manifolds import MANIFOLDS

D, L = 3, 50


def rss_mb() -> float:
    """Current resident memory of this process (MB)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def reset_peak() -> None:
    """Reset this process's peak resident memory (VmHWM) to the current one (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_mb() -> float:
    """Peak resident memory of this process since the last reset (MB)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_flow(method: str, n: int, manifold: str, dtype, params: dict):
    generators = [torch.Generator().manual_seed(0)]
    space = MANIFOLDS[manifold]()
    context = FlowContext(1, n, n, D, dtype, torch.device("cpu"), space, generators, [0])
    cls = get_flow(method, manifold)
    return cls(cls.Config(**params), context), space


def clouds(n: int, manifold: str, dtype):
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(1, n, D, generator=generator, dtype=dtype)
    y = torch.randn(1, n, D, generator=generator, dtype=dtype)
    if manifold == "poincare":  # inside the unit ball
        x, y = 0.8 * x / np.sqrt(D), 0.2 * y.tanh()
    return x, y


def one_size(method: str, n: int, repeats: int) -> dict:
    """Time one flow step and the sort floor at size n (run in a fresh process), both on one
    thread: NumPy's sorts use one."""
    torch.set_num_threads(1)
    keep_freed_memory()  # as the engine does in every process that runs steps
    manifold, dtype, params = "euclidean", torch.float32, {"lr": 1.0}
    if method in ("swd", "min_swgg"):
        params["n_projections"] = L
    if method == "hhsw":
        manifold, dtype, params = "poincare", torch.float64, {"lr": 1.0, "n_projections": 100}
    flow, space = make_flow(method, n, manifold, dtype, params)
    x, y = clouds(n, manifold, dtype)
    state = {"x": x}

    def step():
        x = state["x"]
        flow.inner_update(x, y)
        x_var = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(flow.loss(x_var, y).sum(), x_var)
        with torch.no_grad():
            state["x"] = space.step(x, grad, params["lr"] * 1e-3)

    n_slices = params.get("n_projections", 1)
    theta = torch.randn(n_slices, D, generator=torch.Generator().manual_seed(2), dtype=dtype)
    reset_peak()
    before = rss_mb()
    step()  # warm-up, and the peak memory of a step
    step_peak = peak_mb() - before
    px = (theta @ x[0].T).numpy()  # (L, n), allocated after the step's peak was read
    py = (theta @ y[0].T).numpy()
    work = np.empty_like(px)

    def floor():  # in place in a warm buffer: no allocation, no page fault is counted
        for values in (px, py):
            np.copyto(work, values)
            work.sort(axis=-1)

    times = {"step": [], "floor": [], "step_cpu": [], "floor_cpu": []}
    for _ in range(repeats):  # alternate, so that a busy moment hits both
        for name, function in (("step", step), ("floor", floor)):
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            times[name].append(time.perf_counter() - wall)
            times[f"{name}_cpu"].append(time.process_time() - cpu)
    particles_mb = x.numel() * x.element_size() / 2**20
    found = {key: float(np.median(values)) for key, values in times.items()}
    return {"method": method, "n": n, **found, "peak_mb": step_peak,
            "particles_mb": particles_mb}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--all", action="store_true", help="also Max-SW, min-SWGG and HHSW")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one[0], int(args.one[1]), args.repeats)))
        return
    methods = ["swd", "max_sw", "min_swgg", "hhsw"] if args.all else ["swd"]
    print(f"one seed, d = {D}, float32 (HHSW: float64 on the ball, L = 100); SWD and min-SWGG "
          f"L = {L}; medians of {args.repeats}")  # fmt: skip
    print(f"{'method':<9} {'n':>9} {'s/step':>9} {'sort floor':>11} {'ratio':>6} "
          f"{'CPU ratio':>9} {'peak MB':>8} {'x particles':>12}")  # fmt: skip
    for method in methods:
        for n in (int(s) for s in args.sizes.split(",")):
            command = [sys.executable, __file__, "--one", method, str(n),
                       "--repeats", str(args.repeats)]  # fmt: skip
            start = time.perf_counter()
            found = json.loads(subprocess.run(command, check=True, capture_output=True,
                                              text=True).stdout.splitlines()[-1])  # fmt: skip
            ratio = found["step"] / found["floor"]
            cpu_ratio = found["step_cpu"] / found["floor_cpu"]
            multiple = found["peak_mb"] / found["particles_mb"]
            print(f"{method:<9} {n:>9,} {found['step']:>9.4f} {found['floor']:>11.4f} "
                  f"{ratio:>6.2f} {cpu_ratio:>9.2f} {found['peak_mb']:>8.1f} {multiple:>11.1f}x"
                  f"   ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
