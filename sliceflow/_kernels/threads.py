"""Seeds in parallel threads: independent seeds of a batch split into contiguous ranges, each run
by its own thread on views of the batch tensors.

Every seed's arithmetic is unchanged (a seed alone equals the same seed in a batch), so the
results are bit-identical whatever the number of threads. torch and NumPy release the GIL inside
their kernels, so ranges of heavy per-seed work run side by side; these threads do not spin
(unlike OpenMP's), and on a busy machine they only share the cores fairly with other processes.
How many threads a batch gets is the size policy's choice
(:func:`sliceflow._kernels.policy.seed_threads`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sliceflow._kernels.policy import seed_threads


def seed_ranges(n_seeds: int, work_per_seed: float, threads: int | None = None) -> list[slice]:
    """Contiguous seed ranges, one per thread (:func:`~sliceflow._kernels.policy.seed_threads`
    of them: one range when a seed's step is light).

    Parameters
    ----------
    n_seeds : int
        Seeds S of the batch.
    work_per_seed : float
        Multiply-adds of one seed's step.
    threads : int, optional
        The most threads to use; default: the cores.

    Returns
    -------
    list of slice
        Non-empty, contiguous ranges covering ``0..S-1`` in order.
    """
    count = seed_threads(n_seeds, work_per_seed, threads)
    bounds = [round(i * n_seeds / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def run_ranges(function: Callable[[slice], Any], ranges: list[slice]) -> list[Any]:
    """``function(range)`` for every range, in parallel threads when there are several.

    Parameters
    ----------
    function : callable
        Work on one range of seeds; called once per range.
    ranges : list of slice
        From :func:`seed_ranges`.

    Returns
    -------
    list
        The results, in the order of ``ranges``.
    """
    if len(ranges) == 1:
        return [function(ranges[0])]
    with ThreadPoolExecutor(len(ranges)) as pool:
        return list(pool.map(function, ranges))
