"""The DGSWP paper's plan experiments (Sec. 5.1): time of the Fig. 3 protocol and of Fig. 1.

Fig. 3: 10 initialisations x 2 variants (with and without variance reduction) x 1,000 steps,
n = 1,024, a 2-64-16-1 MLP, N = 20 (targets: under 20 s on 2 cores). Fig. 1: one run of 10,000
steps (target: under 60 s). Each step evaluates the current model and its N perturbations on the
2,048 points, sorts, and takes the plan costs, as the engine does at a traced step.

Printed: medians over repeats of the wall and CPU time per step (one torch thread per method, as
the engine runs a plan method; on a machine shared with other jobs CPU time is the steadier
figure), the projected protocol times (the two variants run side by side on 2 cores with the
default ``--jobs``), and the ratio against a baseline timed in this process: the authors' way,
seed by seed and perturbation by perturbation (a deep copy of an ``nn.Module`` per perturbation).
``--protocol`` times the Fig. 3 protocol itself: the two variants' 1,000 steps run side by side in
two processes (one thread each), wall time from the start until both are done, data and model
set-up excluded. ``--full`` also runs both scenarios end to end (``sliceflow.run``, default jobs)
and prints their wall times next to the load average.

    python benchmarks/bench_plan.py [--repeats 5] [--steps 10] [--protocol] [--full]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import torch

from sliceflow._kernels import onednn
from sliceflow.engine.loop import keep_freed_memory
from sliceflow.scenario import load_scenario
from sliceflow.tasks import get_task

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def stepper(scenario: str, label: str, seeds: int):
    loaded = load_scenario(SCENARIOS / scenario, seeds=seeds)
    task = get_task("plan")(loaded, torch.device("cpu"))
    return task.stepper(label)


def time_steps(stepper, steps: int, repeats: int) -> tuple[float, float]:
    """Medians over repeats of (wall, CPU) seconds per step (cost of the held plan + one step)."""
    for _ in range(2):
        stepper.method.cost(False), stepper.method.advance(False)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            stepper.method.cost(False)
            stepper.method.advance(False)
        wall.append((time.perf_counter() - start) / steps)
        cpu.append((time.process_time() - start_cpu) / steps)
    return statistics.median(wall), statistics.median(cpu)


def naive_step(models, x, y, eps: float, n_pert: int, lr: float, variance_reduction: bool):
    """The authors' way: per seed, the model and N deep copies perturbed one by one."""
    for model in models:

        def cost(m):
            with torch.no_grad():
                i, j = m(x).squeeze(-1).argsort(), m(y).squeeze(-1).argsort()
            return (x[i] - y[j]).square().sum(-1).mean()

        base = cost(model)
        grads = [torch.zeros_like(p) for p in model.parameters()]
        for _ in range(n_pert):
            perturbed = copy.deepcopy(model)
            noises = []
            with torch.no_grad():
                for p in perturbed.parameters():
                    noises.append(torch.randn_like(p))
                    p.add_(eps * noises[-1])
            value = cost(perturbed) - (base if variance_reduction else 0.0)
            for g, z in zip(grads, noises, strict=True):
                g.add_(value * z / (eps * n_pert))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads, strict=True):
                p.sub_(lr * g)


def time_naive(x, y, seeds: int, steps: int) -> tuple[float, float]:
    torch.manual_seed(0)
    models = [
        torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16),
                            torch.nn.ReLU(), torch.nn.Linear(16, 1))
        for _ in range(seeds)
    ]  # fmt: skip
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        naive_step(models, x, y, 0.05, 20, 0.2, True)
    return (time.perf_counter() - start) / steps, (time.process_time() - start_cpu) / steps


def _protocol_variant(label: str, steps: int, start, queue) -> None:
    torch.set_num_threads(1)
    keep_freed_memory()
    method = stepper("plan_variance_reduction.yaml", label, 10).method
    start.wait()  # both processes are set up: the clock starts now
    began = time.perf_counter()
    for _ in range(steps):
        method.cost(False)
        method.advance(False)
    queue.put((label, time.perf_counter() - began))


def protocol(steps: int = 1000) -> None:
    """The two Fig. 3 variants side by side, one process and one thread each."""
    import multiprocessing as mp

    context = mp.get_context("spawn")
    start, queue = context.Barrier(3), context.Queue()
    labels = ("dgswp_vr", "dgswp_no_vr")
    workers = [context.Process(target=_protocol_variant, args=(label, steps, start, queue))
               for label in labels]  # fmt: skip
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    times = dict(queue.get() for _ in labels)
    wall = time.perf_counter() - began
    for worker in workers:
        worker.join()
    print(f"Fig. 3 protocol measured: {wall:.1f} s wall for 2 x {steps} steps side by side "
          f"(with VR {times['dgswp_vr']:.1f} s, without {times['dgswp_no_vr']:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f}; target < 20 s)")  # fmt: skip


def full_runs() -> None:
    import sliceflow

    for name in ("plan_variance_reduction.yaml", "plan_fig1.yaml"):
        before = os.getloadavg()[0]
        start = time.perf_counter()
        sliceflow.run(SCENARIOS / name, write=False, jobs=len(os.sched_getaffinity(0)))
        wall = time.perf_counter() - start
        print(f"{name}: end to end {wall:.1f} s (load average {before:.1f} -> "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    parser.add_argument("--protocol", action="store_true", help="time the Fig. 3 protocol")
    parser.add_argument("--full", action="store_true", help="also run both scenarios")
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as the engine does in every process that runs steps
    print(f"torch {torch.__version__}, 1 thread per method, oneDNN {onednn.usable(torch.ones(1))};"
          f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    vr = time_steps(stepper("plan_variance_reduction.yaml", "dgswp_vr", 10), args.steps,
                    args.repeats)  # fmt: skip
    no_vr = time_steps(stepper("plan_variance_reduction.yaml", "dgswp_no_vr", 10), args.steps,
                       args.repeats)  # fmt: skip
    fig1_stepper = stepper("plan_fig1.yaml", "dgswp_nn", 1)
    fig1 = time_steps(fig1_stepper, 5 * args.steps, args.repeats)
    print("seconds per step (median wall / CPU):")
    print(f"  Fig. 3, 10 seeds, with VR    {vr[0]:.4f} / {vr[1]:.4f}")
    print(f"  Fig. 3, 10 seeds, without VR {no_vr[0]:.4f} / {no_vr[1]:.4f}")
    print(f"  Fig. 1, 1 seed               {fig1[0]:.4f} / {fig1[1]:.4f}")
    onednn.ENABLED = False
    blas = time_steps(stepper("plan_variance_reduction.yaml", "dgswp_vr", 10), args.steps,
                      args.repeats)  # fmt: skip
    onednn.ENABLED = True
    print(
        f"  Fig. 3 with VR, without oneDNN (PyTorch's BLAS on blocks of 128 points) "
        f"{blas[0]:.4f} / {blas[1]:.4f}: oneDNN {blas[1] / vr[1]:.2f}x"
    )
    print("projected from CPU time (the two Fig. 3 variants side by side on 2 cores):")
    print(f"  Fig. 3 protocol: {1000 * max(vr[1], no_vr[1]):.1f} s (target < 20 s)")
    print(f"  Fig. 1:          {10_000 * fig1[1]:.1f} s (target < 60 s)")
    x, y = fig1_stepper.task.x[0], fig1_stepper.task.y[0]
    naive_wall, naive_cpu = time_naive(x, y, 2, 2)
    naive_cpu *= 5  # 10 seeds
    print(
        f"baseline (authors' way, per seed and perturbation): {5 * naive_wall:.3f} s wall, "
        f"{naive_cpu:.3f} s CPU per step of 10 seeds -> Fig. 3 protocol "
        f"{1000 * naive_cpu:.0f} s on 2 cores; batched: {naive_cpu / vr[1]:.1f}x less CPU"
    )
    if args.protocol:
        protocol()
    if args.full:
        full_runs()


if __name__ == "__main__":
    main()
