"""Points per minute of `sliceflow sweep`: the local process pool and a local Ray runtime,
against the same points run one after another in this process (the baseline).

The grid: two moons, 50 particles, 10 seeds, STEPS steps (exact W2^2 every 10), methods SWD and
Max-SW, swd.lr in {0.1, 0.3, 1, 3} x max_sw.lr in {0.3, 1}: 8 points. Every sweep writes each
point's run folder (no figures: ``render=False``), in a fresh folder per repeat. The Ray runtime
is started once (its start-up is printed apart) and its workers are warm after the first repeat;
the local pool starts its processes in every sweep, as `sliceflow sweep` does. Medians of
``--repeats`` sweeps; the ratios are points per minute over the baseline's.

    python benchmarks/bench_sweep.py [--steps N] [--repeats R] [--no-ray]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time  # noqa: E402

GRID = {"methods.swd.lr": [0.1, 0.3, 1.0, 3.0], "methods.max_sw.lr": [0.3, 1.0]}


def scenario(steps: int) -> dict:
    return {
        "name": "bench_sweep",
        "n_particles": 50,
        "steps": steps,
        "seeds": 10,
        "source": {"dataset": "uniform_cube"},
        "target": {"dataset": "two_moons"},
        "methods": [{"method": "swd", "lr": 0.1}, {"method": "max_sw", "lr": 0.3}],
        "trace": {"every": 10},
        "snapshots": {"count": 5},
        "output": {"gif": False},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray executor")
    args = parser.parse_args()

    import sliceflow
    from sliceflow.engine.sweep import sweep

    work = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    path = work / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario(args.steps), sort_keys=False))
    points = [{"methods.swd.lr": a, "methods.max_sw.lr": b}
              for a in GRID["methods.swd.lr"] for b in GRID["methods.max_sw.lr"]]  # fmt: skip
    counter = iter(range(10**6))

    def baseline() -> None:
        for values in points:
            sliceflow.run(path, overrides=values, out=work / f"plain{next(counter)}", render=False)

    def with_executor(name: str) -> None:
        sweep(path, GRID, out=work / f"{name}{next(counter)}", executor=name, render=False)

    timings = {"one process, points in turn": median_time(baseline, args.repeats, warm_up=False)}
    timings["--executor local (2 processes)"] = median_time(
        lambda: with_executor("local"), args.repeats, warm_up=False
    )
    if not args.no_ray:
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        print(f"Ray runtime start-up: {time.perf_counter() - start:.1f} s")
        timings["--executor ray (local runtime, 2 CPUs)"] = median_time(
            lambda: with_executor("ray"), args.repeats, warm_up=True
        )
        ray.shutdown()
    base = len(points) * 60 / timings["one process, points in turn"]
    print(f"{len(points)} points x 2 methods x 10 seeds x {args.steps} steps; medians of "
          f"{args.repeats}")  # fmt: skip
    for label, seconds in timings.items():
        rate = len(points) * 60 / seconds
        print(f"  {label:<42} {seconds:7.1f} s  {rate:6.1f} points/min  x{rate / base:.2f}")


if __name__ == "__main__":
    main()
