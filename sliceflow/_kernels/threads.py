"""Seeds in parallel threads: independent seeds of a batch split into contiguous ranges, each run
by its own thread on views of the batch tensors.

Every seed's arithmetic is unchanged (a seed alone equals the same seed in a batch), so the
results are bit-identical whatever the number of threads. torch and NumPy release the GIL inside
their kernels, so ranges of heavy per-seed work run side by side; these threads do not spin
(unlike OpenMP's), and on a busy machine they only share the cores fairly with other processes.
Ranges are used only when one seed's step is heavy enough to pay for a thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MIN_WORK = 20_000_000  # multiply-adds per seed and step below which one thread is faster


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def seed_ranges(n_seeds: int, work_per_seed: float, threads: int | None = None) -> list[slice]:
    """Contiguous seed ranges, one per thread: ``threads`` (default: the cores) when a seed's
    work reaches ``MIN_WORK`` multiply-adds, else a single range."""
    count = min(n_seeds, threads or cores()) if work_per_seed >= MIN_WORK else 1
    bounds = [round(i * n_seeds / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def run_ranges(function: Callable[[slice], Any], ranges: list[slice]) -> list[Any]:
    """``function(range)`` for every range, in parallel threads when there are several."""
    if len(ranges) == 1:
        return [function(ranges[0])]
    with ThreadPoolExecutor(len(ranges)) as pool:
        return list(pool.map(function, ranges))
