"""Step times of two checkouts side by side: is a refactor slower?

Runs shipped scenarios, short, with the package of each checkout in turn (a fresh process each,
``PYTHONPATH=<checkout>``, alternating old/new so that the machine's drift hits both alike) and
prints, per method, the median over repeats of its compute time per step (``elapsed_s`` of the
trace at the last step divided by the steps: inner loops, losses, backward and the particle
update, the traced exact distances excluded) and the ratio new / old::

    python benchmarks/compare_commits.py --old ../old-checkout --new . two_moons poincare_wnd

Both checkouts must be importable from the same environment. A ratio above 1.05 is a step more
than 5% slower.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import csv, json, sys, tempfile
from pathlib import Path
from sliceflow.engine import run
scenario, steps, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with tempfile.TemporaryDirectory() as folder:
    out = Path(folder) / "run"
    run(scenario, out=out, steps=steps, seeds=int(seeds) if seeds != "-" else None,
        render=False, force=True, overrides={"trace.every": steps})
    last = {}
    with open(out / "trace.csv") as f:
        for row in csv.DictReader(f):
            if int(row["step"]) == steps:
                last[row["method"]] = max(last.get(row["method"], 0.0), float(row["elapsed_s"]))
print(json.dumps({k: v / steps for k, v in last.items()}))
"""


def step_times(checkout: Path, scenario: Path, steps: int, seeds: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(scenario), str(steps), seeds],
        env=env, capture_output=True, text=True, cwd=tempfile.gettempdir(), check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {scenario.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="scenario names (file stems in scenarios/)")
    parser.add_argument("--old", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--new", type=Path, default=ROOT, help="the checkout under test")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", default="-", help="seeds (default: the scenario's)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'scenario':24s} {'method':22s} {'old ms':>9s} {'new ms':>9s} {'new/old':>8s}")
    worst = 0.0
    for name in args.names:
        times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
        for repeat in range(args.repeats):
            order = ("old", "new") if repeat % 2 == 0 else ("new", "old")
            for which in order:
                checkout = (args.old if which == "old" else args.new).resolve()
                scenario = checkout / "scenarios" / f"{name}.yaml"  # each commit's own file
                found = step_times(checkout, scenario, args.steps, args.seeds)
                for method, seconds in found.items():
                    times[which].setdefault(method, []).append(seconds)
        for method in times["new"]:
            old = statistics.median(times["old"].get(method, [float("nan")]))
            new = statistics.median(times["new"][method])
            worst = max(worst, new / old)
            print(f"{name:24s} {method:22s} {1e3 * old:9.2f} {1e3 * new:9.2f} {new / old:8.3f}",
                  flush=True)  # fmt: skip
    print(f"largest ratio new/old: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
