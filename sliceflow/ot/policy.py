"""The size policy of the maths, public: which clouds take the chunked path, when seeds run in
parallel threads, when a run is worth one intra-op torch thread.

The thresholds live in one table, :class:`SizePolicy` (each value with its reason); the functions
below read the current one (:func:`current_policy`). They only answer: the maths never changes
torch's global state, and the thread count of a run is set by the engine, which owns the process
(``sliceflow.engine.loop.threads``), from a task's answers to :func:`is_tiny` and
:func:`is_large`. A flow that runs its own per-seed loop shares its seeds among threads with
:func:`seed_ranges` and :func:`run_ranges` (a seed gets the same numbers in any range).
"""

from __future__ import annotations

from sliceflow._kernels import policy as _policy
from sliceflow._kernels.policy import (
    SizePolicy,
    directions_per_chunk,
    is_large,
    is_tiny,
    seed_threads,
    torch_threads,
)
from sliceflow._kernels.threads import run_ranges, seed_ranges


def current_policy() -> SizePolicy:
    """The table of thresholds in force.

    Returns
    -------
    SizePolicy
        Frozen; the functions of this module read it when called.
    """
    return _policy.POLICY


__all__ = [
    "SizePolicy",
    "current_policy",
    "directions_per_chunk",
    "is_large",
    "is_tiny",
    "run_ranges",
    "seed_ranges",
    "seed_threads",
    "torch_threads",
]
