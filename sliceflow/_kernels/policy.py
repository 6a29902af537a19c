"""The size policy: every threshold that chooses a code path or a thread count, in one table.

=============================  ======================================  ===========================
decision                       rule                                    read by
=============================  ======================================  ===========================
chunked sliced transport       ``max(n, m) >= large_points``           :func:`is_large`
directions per chunk           ``c * max(n, m) <= chunk_values``       :func:`directions_per_chunk`
rows sorted at once            ``r * max(n, m) <= sort_values``        :func:`rows_per_sort`
seeds in parallel threads      work per seed ``>= seed_thread_work``   :func:`seed_threads`
one intra-op torch thread      tiny tensors (``tiny[task]``) or        :func:`torch_threads`, set
                               chunked clouds, on the CPU              by the engine only
oneDNN float32 products        CPU, float32, no gradient to record     :func:`onednn_applies`
=============================  ======================================  ===========================

The values live in one frozen :class:`SizePolicy`, :data:`POLICY`; the functions read it when
called, so a test may swap it (``monkeypatch.setattr(policy, "POLICY", replace(POLICY, ...))``).
No function here changes any global state: :func:`torch_threads` only answers, and the engine,
which owns the process, sets the count (``sliceflow.engine.loop.threads``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import torch


def _tiny_tasks() -> dict[str, float]:
    return {
        "flow": 2_000_000,
        "dictionary": 2_000_000,
        "flow_matching": 1_000_000,
        "plan": math.inf,
    }


@dataclass(frozen=True)
class SizePolicy:
    """The thresholds of the size policy, with why each value.

    Attributes
    ----------
    large_points : int
        Points per seed from which sliced transport is evaluated in chunks of directions (bounded
        memory). The batched code keeps the sorted (S, L, n) tensors and their permutations for
        backward, about 40 bytes per projected value; below this size that is a few megabytes per
        seed, and the papers' runs (n = 50 to 500) stay bit for bit the batched code.
    chunk_values : int
        Projected values per cloud in one chunk of directions (at least one direction): the
        working memory of the chunked path stays a few times the particle array, whatever L.
    sort_values : int
        Values per cloud sorted at once within a chunk (at least one row): bounds the sorts'
        temporaries (packed keys, orders) inside a chunk.
    seed_thread_work : float
        Multiply-adds per seed and step from which independent seeds run in parallel threads;
        below it, starting the threads costs more than the work they share.
    tiny : dict of str to float
        Per task, the size of a step's largest tensors (the task's own measure: flow
        ``S n max(n, m, d)``, dictionary ``N n K``, flow matching ``S B width``) up to which torch
        runs on one intra-op thread: tensors of a few thousand numbers gain nothing from threads,
        and on a loaded machine the threads' spin-waits make each operation slower. Plan runs:
        always (many small products; ``--jobs`` runs methods side by side instead).
    """

    large_points: int = 4096
    chunk_values: int = 1 << 22
    sort_values: int = 1 << 19
    seed_thread_work: float = 20_000_000
    tiny: dict[str, float] = field(default_factory=_tiny_tasks)


POLICY = SizePolicy()


def is_large(n: int, m: int) -> bool:
    """Whether clouds of ``n`` and ``m`` points per seed take the chunked path.

    Parameters
    ----------
    n, m : int
        Points per seed of the two clouds.

    Returns
    -------
    bool
        ``max(n, m) >= POLICY.large_points``.
    """
    return max(n, m) >= POLICY.large_points


def directions_per_chunk(n: int, m: int, n_slices: int) -> int:
    """Directions per chunk of the chunked path.

    .. math:: c = \\max(1, \\min(L, \\lfloor V / \\max(n, m) \\rfloor)), \\quad V =
              \\texttt{chunk\\_values}

    Parameters
    ----------
    n, m : int
        Points per seed of the two clouds.
    n_slices : int
        Directions (slices) L of the problem.

    Returns
    -------
    int
        The chunk size ``c``, between 1 and L.
    """
    return max(1, min(n_slices, POLICY.chunk_values // max(n, m, 1)))


def rows_per_sort(n: int, m: int) -> int:
    """Rows (projected clouds) sorted at once inside a chunk: ``max(1, sort_values // max(n, m))``.

    Parameters
    ----------
    n, m : int
        Points per seed of the two clouds.

    Returns
    -------
    int
        At least one row.
    """
    return max(1, POLICY.sort_values // max(n, m, 1))


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def seed_threads(n_seeds: int, work_per_seed: float, threads: int | None = None) -> int:
    """How many threads share the seeds of a batch.

    Parameters
    ----------
    n_seeds : int
        Seeds S of the batch.
    work_per_seed : float
        Multiply-adds of one seed's step.
    threads : int, optional
        The most threads to use; default: the cores (:func:`cores`).

    Returns
    -------
    int
        ``min(S, threads)`` when ``work_per_seed >= POLICY.seed_thread_work``, else 1.
    """
    if work_per_seed < POLICY.seed_thread_work:
        return 1
    return min(n_seeds, threads or cores())


def is_tiny(size: float, task: str) -> bool:
    """Whether a step of a ``task`` run whose largest tensors have ``size`` numbers is tiny.

    Parameters
    ----------
    size : float
        The task's measure of its step's tensors (see :class:`SizePolicy`, ``tiny``).
    task : str
        A key of ``POLICY.tiny`` (``flow``, ``dictionary``, ``flow_matching``, ``plan``).

    Returns
    -------
    bool
        ``size <= POLICY.tiny[task]``.
    """
    return size <= POLICY.tiny[task]


def torch_threads(device: torch.device, *, tiny: bool, large: bool) -> int | None:
    """The intra-op torch threads a run should use; the engine sets them, nothing else does.

    One thread on the CPU when a step's tensors are tiny (threads add only spin-waits), or when
    the clouds take the chunked path (its operations are short and memory-bound, and its sorts
    run on one thread anyway).

    Parameters
    ----------
    device : torch.device
        The run's device.
    tiny : bool
        The task's answer to "are a step's tensors tiny?" (:func:`is_tiny`).
    large : bool
        The task's answer to "do its clouds take the chunked path?" (:func:`is_large`).

    Returns
    -------
    int or None
        1, or None to keep the process's setting.
    """
    return 1 if device.type == "cpu" and (tiny or large) else None


def onednn_applies(*tensors: torch.Tensor) -> bool:
    """Whether a product of these tensors may go through oneDNN: all float32 on the CPU, and no
    gradient to record (the op has no derivative). ``onednn.usable`` adds whether this PyTorch
    has the op and whether it is switched on.

    Parameters
    ----------
    *tensors : torch.Tensor
        The operands.

    Returns
    -------
    bool
    """
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
