"""Exact-trace solvers: scipy's assignment vs POT's network simplex (``ot.emd2``), by size.

The ``auto`` solver of the exact trace uses the assignment solver for equal sizes up to
``sliceflow.ot.exact.ASSIGNMENT_MAX_N`` and ``ot.emd2`` above; this script measures where the
crossover lies, on the papers' clouds at the start of a flow (uniform cube vs two moons: the
hardest case for the assignment solver) and near the end (particles close to the target).
Prints medians of several runs and ratios; not a test.

Run: ``python benchmarks/bench_exact.py [--repeats 3] [--sizes 50,100,200,500,1000,2000]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import ot
from _timing import median_time  # benchmarks/ is on sys.path when run as a script
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import make_moons

from sliceflow.ot.exact import ASSIGNMENT_MAX_N


def clouds(n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.RandomState(0)
    target, _ = make_moons(n, noise=0.05, random_state=1)
    target = (target - target.mean(0)) / target.std(0)
    start = 2.5 * (rng.rand(n, 2) - 0.5) + 1
    close = target + 0.05 * rng.randn(n, 2)
    return {"start of a flow": (start, target), "near the end": (close, target)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="50,100,200,500,1000,2000")
    args = parser.parse_args()
    print(f"auto uses the assignment solver for n <= {ASSIGNMENT_MAX_N}")
    print(f"{'n':>6} {'clouds':<16} {'assignment':>12} {'ot.emd2':>10} {'ratio':>7}")
    for n in (int(s) for s in args.sizes.split(",")):
        weights = np.full(n, 1.0 / n)
        for name, (x, y) in clouds(n).items():
            cost = ot.dist(x, y)
            t_lsa = median_time(lambda c=cost: linear_sum_assignment(c), args.repeats)
            t_emd = median_time(lambda c=cost, w=weights: ot.emd2(w, w, c, numItermax=10**7),
                                args.repeats)  # fmt: skip
            print(f"{n:>6} {name:<16} {1e3 * t_lsa:>10.2f}ms {1e3 * t_emd:>8.2f}ms "
                  f"{t_lsa / t_emd:>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
