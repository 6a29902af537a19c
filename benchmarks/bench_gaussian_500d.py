"""The DGSWP paper's high-dimensional panel (``scenarios/gaussian_500d.yaml``: d = 500, n = 50,
10 seeds, 2,000 flow steps, 7 methods): per-method time and what bounds the whole panel.

Per method: median wall and CPU seconds per flow step (10 seeds batched, one torch thread, as the
engine runs this small-tensor scenario), projected to 2,000 steps; then the panel's projected
wall time with the engine's schedule (methods longest first on ``--jobs`` worker processes).
For DGSWP NN, the work its estimator cannot avoid is counted (multiply-adds of the low-rank
perturbed forward passes and gradient, standard normal draws) and timed in this process at the
speed of this machine (a large matmul, ``torch.randn``): that floor bounds the panel. Baseline
in the same process: the same DGSWP NN step with explicit perturbations (the N perturbed MLPs of
d x 256 weights, no low-rank sampling).

    python benchmarks/bench_gaussian_500d.py [--repeats 3] [--jobs 2] [--full]

``--full`` also runs the panel end to end (``sliceflow run``, default jobs): about 25 minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from sliceflow._kernels import onednn
from sliceflow.engine.loop import keep_freed_memory
from sliceflow.scenario import load_scenario
from sliceflow.tasks import get_task

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "gaussian_500d.yaml"


def step_times(stepper, repeats: int) -> tuple[float, float]:
    """Medians of (wall, CPU) seconds of one flow step (after a warm-up step)."""
    stepper.advance(want_values=False)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        stepper.advance(want_values=False)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def schedule(seconds: dict[str, float], jobs: int) -> float:
    """Wall time of the engine's schedule: longest first, each to the first free worker."""
    free = [0.0] * jobs
    for label in sorted(seconds, key=lambda k: -seconds[k]):
        free[free.index(min(free))] += seconds[label]
    return max(free)


def floor_seconds(repeats: int) -> dict[str, float]:
    """DGSWP NN's unavoidable work per flow step (10 seeds, 20 inner steps, N = 10, width 256,
    rank r = n + m = 100, d + 1 = 501), timed on this machine."""
    S, inner, N, h, r, D = 10, 20, 10, 256, 100, 501
    normals = S * inner * (N * h * r + h * D)  # xi (N h r) and the complement's G (h (d+1))
    macs = S * inner * (h * D * r + N * h * r * r + 2 * h * D * r)  # W1 X, xi R, G Q, (.) Q^T
    g = torch.Generator().manual_seed(0)
    block = N * h * r + h * D
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    randn = statistics.median(_cpu(lambda: torch.randn(block, generator=g)) for _ in range(repeats))
    # the products' library: oneDNN where this torch has it (as the sampler), else torch's BLAS
    gemm = statistics.median(_cpu(lambda: onednn.linear(a, b)) for _ in range(repeats)) / 1024**3
    return {"normals": normals, "macs": macs, "randn_s": randn * normals / block,
            "gemm_s": gemm * macs}  # fmt: skip


def _cpu(function) -> float:
    function()
    start = time.process_time()
    for _ in range(10):
        function()
    return (time.process_time() - start) / 10


def explicit_nn_step(task, repeats: int) -> tuple[float, float]:
    """The baseline: DGSWP NN with explicit perturbations (LowRankMLPSmoothing switched off)."""
    stepper = task.stepper("dgswp_nn")
    stepper.flow.solver.family.low_rank = False
    return step_times(stepper, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--full", action="store_true", help="also run the panel end to end")
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as the engine does in every process that runs steps
    scenario = load_scenario(SCENARIO)
    task = get_task(scenario.task)(scenario, torch.device("cpu"))
    steps = scenario.steps
    print(f"torch {torch.__version__}, 1 thread per method; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {steps} flow steps")  # fmt: skip
    print(f"{'method':14s} {'wall s/step':>12s} {'cpu s/step':>11s} {'cpu s (panel)':>14s}")
    seconds = {}
    for label in scenario.labels:
        wall, cpu = step_times(task.stepper(label), args.repeats)
        seconds[label] = cpu * steps
        print(f"{label:14s} {wall:12.3f} {cpu:11.3f} {cpu * steps:14.0f}")
    total = sum(seconds.values())
    print(f"panel: {total:.0f} CPU s; projected wall with {args.jobs} workers, one thread per "
          f"method, longest first: {schedule(seconds, args.jobs) / 60:.1f} min; with DGSWP NN and "
          f"ASWD spreading their seeds over the cores (sliceflow._kernels.threads): about "
          f"{total / args.jobs / 60:.1f} min (the CPU seconds over the cores)")  # fmt: skip
    floor = floor_seconds(args.repeats)
    print(f"DGSWP NN per flow step: {floor['macs'] / 1e9:.1f} G multiply-adds "
          f"(~{floor['gemm_s']:.2f} s at this machine's large-matmul speed, oneDNN "
          f"{onednn.usable(torch.ones(1))}) and "
          f"{floor['normals'] / 1e6:.0f} M normal draws (~{floor['randn_s']:.2f} s with "
          f"torch.randn): floor {(floor['gemm_s'] + floor['randn_s']) * steps / 60:.1f} min "
          "on one core")  # fmt: skip
    wall, cpu = explicit_nn_step(task, 1)
    print(f"baseline, explicit perturbations: {cpu:.2f} CPU s per step; low-rank: "
          f"{cpu * steps / seconds['dgswp_nn']:.1f}x less")  # fmt: skip
    if args.full:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            command = [sys.executable, "-m", "sliceflow", "run", str(SCENARIO), "--out", out,
                       "--no-progress", "--no-gif"]  # fmt: skip
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            print(f"end to end: {(time.perf_counter() - start) / 60:.1f} min "
                  f"(load average now {os.getloadavg()[0]:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
