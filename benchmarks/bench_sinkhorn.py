"""Sinkhorn-divergence flow step (issue 10): value + gradient in x, four implementations.

Same data, same process, float32 (the Euclidean flows' dtype): x = 2.5 (U[0,1]^2 - 0.5) + 1,
y = two moons (standardised), n = m, uniform weights, d = 2.
Conventions, identical for all four: cost ``|x - y|^2 / 2`` and ``reg = blur^2`` with blur = 0.05
(GeomLoss's p = 2 convention), debiased ``S = OT(x, y) - OT(x, x)/2 - OT(y, y)/2``.

1. Same iterations (no annealing, ``max_iter`` = K, tol = 0): sliceflow envelope and unrolled vs
   POT's ``ot.sinkhorn2(..., method="sinkhorn_log")`` on torch tensors with autograd through its
   loop. POT's value is ``<P, C>`` (no entropy), so only the times compare here.
2. Annealed (epsilon-scaling 0.5, GeomLoss's default): GeomLoss ``SamplesLoss("sinkhorn",
   backend="tensorized")`` vs sliceflow envelope with the same scaling, stopped at a tolerance
   whose accuracy matches or beats GeomLoss's; errors are against a tight sliceflow reference.
3. Memory of one step: bytes of the distinct tensors the autograd graph saves
   (``saved_tensors_hooks``; what backward keeps alive), and the growth of peak resident memory
   (``VmHWM``) in a fresh subprocess (everything the step allocates, buffers included).

Timing: methods take turns within each round (the machine is shared); on a loaded machine pass
``--threads 1``, as OpenMP barriers stall when another process holds a core.

Run: ``python benchmarks/bench_sinkhorn.py [--repeats 3] [--sizes 1000 5000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import warnings

import numpy as np
import ot
import torch
from _timing import median_time  # benchmarks/ is on sys.path when run as a script
from geomloss import SamplesLoss
from sklearn.datasets import make_moons

from sliceflow.ot import sinkhorn_divergence, squared_euclidean_cost

BLUR = 0.05
REG = BLUR**2


def clouds(n: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.RandomState(0)
    x = 2.5 * (rng.rand(n, 2) - 0.5) + 1
    y = make_moons(n, noise=0.05, random_state=0)[0]
    y = (y - y.mean(0)) / y.std(0)
    return torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)


def half_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return squared_euclidean_cost(x, y) / 2


def sliceflow_step(x, y, gradient="envelope", **options):
    x = x.clone().requires_grad_(True)
    result = sinkhorn_divergence(x, y, REG, cost=half_cost, gradient=gradient, **options)
    return result.value.detach(), torch.autograd.grad(result.value, x)[0]


def pot_step(x, y, n_iter: int, tol: float = 0.0):
    x = x.clone().requires_grad_(True)
    weights = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=x.dtype)
    options = dict(method="sinkhorn_log", numItermax=n_iter, stopThr=tol, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        terms = [
            ot.sinkhorn2(weights, weights, half_cost(p, q), REG, **options)
            for p, q in ((x, y), (x, x), (y, y))
        ]
    value = terms[0] - (terms[1] + terms[2]) / 2
    return value.detach(), torch.autograd.grad(value, x)[0]


def geomloss_step(x, y, scaling: float = 0.5):
    x = x.clone().requires_grad_(True)
    loss = SamplesLoss("sinkhorn", p=2, blur=BLUR, scaling=scaling, backend="tensorized")
    value = loss(x, y)
    return value.detach(), torch.autograd.grad(value, x)[0]


def interleaved_medians(steps: dict, repeats: int) -> dict:
    """Median time of each step, the steps taking turns so that load changes hit them alike."""
    for step in steps.values():
        step()  # warm-up
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(median_time(step, 1, warm_up=False))
    return {name: float(np.median(values)) for name, values in times.items()}


def same_iterations(n: int, n_iter: int, repeats: int) -> None:
    x, y = clouds(n)
    fixed = dict(max_iter=n_iter, tol=0.0)
    steps = {
        "sliceflow envelope": lambda: sliceflow_step(x, y, **fixed),
        "sliceflow unrolled": lambda: sliceflow_step(x, y, "unrolled", **fixed),
        "POT log + autograd": lambda: pot_step(x, y, n_iter),
    }
    times = interleaved_medians(steps, repeats)
    print(f"\n[1] n = {n}, {n_iter} iterations per problem, no annealing (median of {repeats})")
    for name, seconds in times.items():
        ratio = times["POT log + autograd"] / seconds
        print(f"  {name:22s} {seconds:8.3f} s   POT / this = {ratio:6.1f}x")


def annealed(n: int, repeats: int) -> None:
    x, y = clouds(n)
    # a tighter reference costs minutes at n = 5000; tol 1e-4 is within ~1e-3 (value) and
    # ~1e-2 (gradient) of the converged answer, ten times below the errors compared here
    reference_value, reference_grad = sliceflow_step(x, y, scaling=0.5, tol=1e-4, max_iter=5000)
    steps = {
        "GeomLoss tensorized": lambda: geomloss_step(x, y),
        "sliceflow env tol 1e-2": lambda: sliceflow_step(x, y, scaling=0.5, tol=1e-2),
        "sliceflow unr tol 1e-2": lambda: sliceflow_step(x, y, "unrolled", scaling=0.5, tol=1e-2),
        "sliceflow env tol 1e-3": lambda: sliceflow_step(x, y, scaling=0.5, tol=1e-3),
    }
    times = interleaved_medians(steps, repeats)
    print(f"\n[2] n = {n}, epsilon-scaling 0.5 (median of {repeats}); errors vs sliceflow tol 1e-4")
    for name, step in steps.items():
        value, grad = step()
        value_error = float((value - reference_value).abs() / reference_value.abs())
        grad_error = float((grad - reference_grad).norm() / reference_grad.norm())
        print(
            f"  {name:22s} {times[name]:8.3f} s   GeomLoss / this = "
            f"{times['GeomLoss tensorized'] / times[name]:5.1f}x   "
            f"value err {value_error:.1e}   grad err {grad_error:.1e}"
        )


def memory_steps(n: int, n_iter: int) -> dict:
    x, y = clouds(n)
    fixed = dict(max_iter=n_iter, tol=0.0)
    return {
        "sliceflow envelope": lambda: sliceflow_step(x, y, **fixed),
        "sliceflow unrolled": lambda: sliceflow_step(x, y, "unrolled", **fixed),
        "sliceflow autograd": lambda: sliceflow_step(x, y, "autograd", **fixed),
        "POT log + autograd": lambda: pot_step(x, y, n_iter),
        "GeomLoss tensorized": lambda: geomloss_step(x, y),
    }


def saved_bytes(step) -> int:
    """Bytes of the distinct storages packed for backward while ``step`` runs."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(storages.values())


def peak_resident_kb() -> int:
    """Peak resident memory of this process (kB).

    ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` is not used because Linux
    carries it over from the parent through fork and exec, which hides a child's growth.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_growth_child(name: str, n: int, n_iter: int) -> None:
    """Run in a fresh process: print the growth of peak resident memory (MB) of one step."""
    step = memory_steps(n, n_iter)[name]
    before = peak_resident_kb()
    step()
    print((peak_resident_kb() - before) / 1024)


def memory(n: int, n_iter: int) -> None:
    print(f"\n[3] memory of one step, n = {n}, {n_iter} iterations per problem (GeomLoss: its own")
    print("    schedule); graph = bytes saved for backward, peak = growth of peak RSS")
    graph = {}
    for name, step in memory_steps(n, n_iter).items():
        graph[name] = saved_bytes(step) / 2**20
        threads = str(torch.get_num_threads())
        command = [
            sys.executable,
            __file__,
            "--threads",
            threads,
            "--child",
            name,
            str(n),
            str(n_iter),
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        peak = float(output.strip().splitlines()[-1])
        print(f"  {name:22s} graph {graph[name]:9.1f} MB   peak {peak:9.1f} MB")
    ratio = graph["sliceflow unrolled"] / graph["sliceflow autograd"]
    print(f"  unrolled / autograd through the same loop (graph): {ratio:.3f} (target <= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        peak_growth_child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load}")
    for n in args.sizes:
        # POT's graph keeps 2 n x m matrices per iteration for each problem that depends on x
        # (measured in [3]): 10 iterations at n = 5000 already hold 4 GB
        same_iterations(n, n_iter=100 if n <= 1000 else 10, repeats=args.repeats)
        annealed(n, args.repeats)
    memory(1000, n_iter=100)


if __name__ == "__main__":
    main()
