"""The executor a sweep runs on, chosen by name (``--executor local | ray``).

Apart from both executors so that neither imports the other.
"""

from __future__ import annotations

import os

from sliceflow.engine.executors import LocalExecutor


def make_executor(name: str, address: str | None, max_parallel: int | None, device: str):
    """The executor ``local`` or ``ray``; UserError (one line) for a bad name or option."""
    from sliceflow.engine.loop import torch_device
    from sliceflow.errors import UserError

    if max_parallel is not None and max_parallel < 1:
        raise UserError(f"--max-parallel {max_parallel}: give 1 or more")
    if name == "local":
        torch_device(device)  # cuda must be here; on Ray, on the workers
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return LocalExecutor(max_parallel or (len(cores) if cores else os.cpu_count() or 1))
    if name == "ray":
        from sliceflow.engine.ray_executor import RayExecutor

        return RayExecutor(address, max_parallel, device)
    raise UserError(f"--executor {name!r}: use local or ray")


__all__ = ["make_executor"]
