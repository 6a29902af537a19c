"""Wasserstein dictionary learning speed figures (issue 11). Prints medians and ratios; not a test.

1. One epoch over the 1,797 scikit-learn digits (K = 8 atoms, 25 log-domain iterations, the
   gradient over all data then one Adam step; target under 30 s on 2 cores) with the
   hand-derived reverse sweep (``gradient: unrolled``) against torch autograd through the same
   iterations (``gradient: autograd``), in the same process, one thread (what the engine uses).
   Also the bytes each keeps for the backward pass (saved-tensor hooks) on 400 digits.
2. ``sliceflow run scenarios/dictionary_synthetic.yaml`` end to end as a subprocess (3 seeds x
   600 epochs, figures, GIF and report included; target under 60 s).

Run: ``python benchmarks/bench_dictionary.py [--repeats 3] [--skip-cli]``.
"""

from __future__ import annotations

import argparse
import resource
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


def saved_bytes(gradient: str, count: int = 400) -> int:
    """Bytes of the tensors saved for backward by one reconstruction of ``count`` digits."""
    scenario = load_scenario(ROOT / "scenarios" / "dictionary_digits.yaml")
    task = get_task("dictionary")(scenario, torch.device("cpu"))
    stepper = task.stepper("wdl_k8")
    stepper.config = stepper.config.model_copy(update={"gradient": gradient})
    seen: dict[int, int] = {}

    def pack(tensor):
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        stepper.reconstruct(0, slice(0, count))
    return sum(seen.values())


def cli_run(repeats: int) -> tuple[float, float]:
    """Median wall time and CPU time (user + system, of the child) of the synthetic scenario:
    on a shared machine the CPU time is the figure that does not depend on the other jobs."""
    walls, cpus = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            command = ["sliceflow", "run", str(ROOT / "scenarios" / "dictionary_synthetic.yaml"),
                       "--out", out, "--no-progress"]  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    unrolled, autograd = [], []
    for _ in range(args.repeats):  # interleaved: a busy machine slows both alike
        unrolled.append(digits_epoch("unrolled", 1))
        autograd.append(digits_epoch("autograd", 1))
    unrolled, autograd = sorted(unrolled)[len(unrolled) // 2], sorted(autograd)[len(autograd) // 2]
    print(f"digits epoch (1797 x 64 bins, K = 8, 25 iterations): unrolled {unrolled:.2f} s, "
          f"autograd {autograd:.2f} s ({autograd / unrolled:.2f}x); target < 30 s")  # fmt: skip
    kept = {g: saved_bytes(g) / 2**20 for g in ("unrolled", "autograd")}
    print(f"kept for backward, 400 digits: unrolled {kept['unrolled']:.0f} MB, autograd "
          f"{kept['autograd']:.0f} MB ({kept['autograd'] / kept['unrolled']:.1f}x)")  # fmt: skip
    if not args.skip_cli:
        wall, cpu = cli_run(args.repeats)
        print(f"sliceflow run dictionary_synthetic.yaml: {wall:.1f} s end to end ({cpu:.1f} s of "
              "CPU); target < 60 s")  # fmt: skip


if __name__ == "__main__":
    main()
