"""Speed of flow matching (issue 15): medians of several runs and ratios; not a test.

1. Per training iteration (5 seeds, batch 256, the 2-D network), in this process: sliceflow's
   stepper (all seeds batched) for I-CFM, OT-CFM and DGSWP-CFM (linear, NN), against the
   baseline of torchcfm's own training loop run seed after seed (``models.MLP``,
   ``ConditionalFlowMatcher`` / ``ExactOptimalTransportConditionalFlowMatcher``
   ``.sample_location_and_conditional_flow``, ``torch.optim.Adam``).
2. End to end (``--end-to-end``): ``sliceflow run scenarios/flow_matching_2d.yaml`` with three
   couplings (I-CFM, OT-CFM, DGSWP-CFM-linear; target < 5 min) and, with ``--digits``, the digits
   comparison (target < 15 min), timed as subprocesses (wall and CPU seconds), with the median
   W2^2 per coupling and solver read from ``sampling.csv``.

Run: ``python benchmarks/bench_flow_matching.py [--repeats 5] [--end-to-end] [--digits]``.
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time  # noqa: E402

import sliceflow  # noqa: E402
from sliceflow.scenario import load_scenario  # noqa: E402
from sliceflow.tasks import get_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TWO_D = ROOT / "scenarios" / "flow_matching_2d.yaml"
DIGITS = ROOT / "scenarios" / "flow_matching_digits.yaml"
THREE = "I-CFM,OT-CFM,DGSWP-CFM-linear"
ITERATIONS = 20


def sliceflow_iteration(label: str, repeats: int) -> float:
    """Seconds per training iteration of one coupling, 5 seeds batched (DGSWP init excluded)."""
    scenario = load_scenario(TWO_D)
    task = get_task("flow_matching")(scenario, torch.device("cpu"))
    stepper = task.stepper(label)
    stepper.advance(want_values=False)  # the first plan (DGSWP: its 1000 initial steps)

    def block():
        for _ in range(ITERATIONS):
            stepper.advance(want_values=False)

    return median_time(block, repeats) / ITERATIONS


def torchcfm_iteration(exact_ot: bool, repeats: int, seeds: int = 5) -> float:
    """Seconds per iteration of torchcfm's 2-D training loop, seeds one after the other."""
    from torchcfm.conditional_flow_matching import (
        ConditionalFlowMatcher,
        ExactOptimalTransportConditionalFlowMatcher,
    )
    from torchcfm.models.models import MLP

    torch.manual_seed(0)
    matcher = ExactOptimalTransportConditionalFlowMatcher(0.0) if exact_ot else (
        ConditionalFlowMatcher(0.0))  # fmt: skip
    models = [MLP(2, w=64, time_varying=True) for _ in range(seeds)]
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]

    def block():
        for _ in range(ITERATIONS):
            for model, optimizer in zip(models, optimizers, strict=True):
                x0, x1 = torch.randn(256, 2), torch.randn(256, 2) + 2
                t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
                loss = (model(torch.cat([xt, t[:, None]], -1)) - ut).square().mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    return median_time(block, repeats) / ITERATIONS


def end_to_end(scenario: Path, methods: str | None) -> tuple[float, float, Path]:
    out = Path(tempfile.mkdtemp(prefix="bench_fm_"))
    command = [sys.executable, "-c", "from sliceflow.cli import main; main()", "run",
               str(scenario), "--out", str(out), "--no-progress", "--no-gif"]  # fmt: skip
    command += ["--methods", methods] if methods else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def print_sampling(out: Path) -> None:
    groups: dict[tuple, list[float]] = {}
    with open(out / "sampling.csv") as stream:
        for row in csv.DictReader(stream):
            key = (
                row["method"],
                row["solver"],
                int(row["steps"]) if row["solver"] == "euler" else 0,
            )
            groups.setdefault(key, []).append(float(row["w2sq"]))
    for (method, solver, steps), values in groups.items():
        name = f"{solver} {steps}" if solver == "euler" else solver
        print(f"    {method:<18} {name:<10} median W2^2 {statistics.median(values):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--digits", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # what the engine uses for these sizes (Task.small)
    print(f"sliceflow {sliceflow.__version__}, per training iteration, 5 seeds, batch 256 (ms):")
    base = {ot: torchcfm_iteration(ot, args.repeats) for ot in (False, True)}
    for label, ot in (("I-CFM", False), ("OT-CFM", True), ("DGSWP-CFM-linear", True),
                      ("DGSWP-CFM-NN", True)):  # fmt: skip
        ours = sliceflow_iteration(label, args.repeats)
        name = "OT-CFM" if ot else "I-CFM"
        print(f"  {label:<18} {1000 * ours:8.2f}   torchcfm {name} loop {1000 * base[ot]:8.2f}"
              f"   ratio {base[ot] / ours:5.2f}x")  # fmt: skip
    runs = [(TWO_D, THREE)] if args.end_to_end else []
    runs += [(DIGITS, None)] if args.digits else []
    for scenario, methods in runs:
        wall, cpu, out = end_to_end(scenario, methods)
        print(
            f"  {scenario.name} ({methods or 'all couplings'}): wall {wall:.0f} s, CPU {cpu:.0f} s"
        )
        print_sampling(out)


if __name__ == "__main__":
    main()
