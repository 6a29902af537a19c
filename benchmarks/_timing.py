"""Timing helper shared by the benchmark scripts (run them as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import statistics
import time


def median_time(function, repeats: int, warm_up: bool = True) -> float:
    """Median wall time of ``function()`` over ``repeats`` calls (after one warm-up call)."""
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
