"""Wasserstein dictionary learning speed figures (issue 11). Prints medians and ratios; not a test.

1. One epoch over the 1,797 scikit-learn digits (K = 8 atoms, 25 log-domain iterations, the
   gradient over all data then one Adam step; target under 30 s on 2 cores) with the
   hand-derived reverse sweep (``gradient: unrolled``) against torch autograd through the same
   iterations (``gradient: autograd``), in the same process, one thread (what the engine uses).
2. ``sliceflow run scenarios/dictionary_synthetic.yaml`` end to end as a subprocess (3 seeds x
   600 epochs, figures, GIF and report included; target under 60 s).

Run: ``python benchmarks/bench_dictionary.py [--repeats 3] [--skip-cli]``.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from _timing import median_time  # benchmarks/ is on sys.path when run as a script

from sliceflow.scenario import load_scenario
from sliceflow.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]


def digits_epoch(gradient: str, repeats: int) -> float:
    overrides = {"methods.wdl_k8.gradient": gradient}
    scenario = load_scenario(ROOT / "scenarios" / "dictionary_digits.yaml", overrides=overrides)
    task = get_task("dictionary")(scenario, torch.device("cpu"))
    stepper = task.stepper("wdl_k8")
    return median_time(lambda: stepper.advance(want_values=True), repeats)


def cli_run(repeats: int) -> float:
    def once():
        with tempfile.TemporaryDirectory() as out:
            command = ["sliceflow", "run", str(ROOT / "scenarios" / "dictionary_synthetic.yaml"),
                       "--out", out, "--no-progress"]  # fmt: skip
            subprocess.run(command, check=True, capture_output=True)

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    unrolled = digits_epoch("unrolled", args.repeats)
    autograd = digits_epoch("autograd", args.repeats)
    print(f"digits epoch (1797 x 64 bins, K = 8, 25 iterations): unrolled {unrolled:.2f} s, "
          f"autograd {autograd:.2f} s ({autograd / unrolled:.2f}x); target < 30 s")  # fmt: skip
    if not args.skip_cli:
        seconds = cli_run(args.repeats)
        print(f"sliceflow run dictionary_synthetic.yaml: {seconds:.1f} s end to end; target < 60 s")


if __name__ == "__main__":
    main()
