"""The Ray executor: every unit of a sweep is a Ray task asking for one CPU (one GPU on cuda).

``ray.init()`` starts a local Ray runtime; ``--address`` (or ``RAY_ADDRESS``) joins a running
cluster, whose nodes must have sliceflow installed and see the output folder at the same path
(shared storage): tasks write their run folders there, the driver alone writes sweep.yaml.
Ray is an optional extra: ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from collections.abc import Callable

from sliceflow.engine.executors import RETRIES, STOP_SECONDS, Callback, Outcome, Unit, run_unit
from sliceflow.errors import UserError

INSTALL = 'pip install -e ".[ray]"'
CONNECT_SECONDS = 5.0


class RayExecutor:
    """Units as Ray tasks; at most ``max_parallel`` in flight (None: as many as Ray schedules)."""

    name = "ray"

    def __init__(self, address: str | None, max_parallel: int | None, device: str) -> None:
        try:
            import ray
        except ImportError:
            raise UserError(
                f"--executor ray needs Ray, an optional extra: {INSTALL} (or pip install ray)"
            ) from None
        self.ray, self.max_parallel = ray, max_parallel
        address = address or os.environ.get("RAY_ADDRESS") or None
        self.started_here = not ray.is_initialized()
        if self.started_here:
            _check_reachable(address)
            try:
                ray.init(address=address, include_dashboard=False, logging_level="ERROR",
                         log_to_driver=False)  # fmt: skip
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
                raise UserError(_unreachable(address, error)) from None
        gpus = 1 if device == "cuda" else 0
        self.remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=RETRIES)(run_unit)

    def run(self, units: list[Unit], on_done: Callback, on_start: Callable[[Unit], None]) -> None:
        ray = self.ray
        window = self.max_parallel or len(units)
        pending, flying = deque(units), {}
        try:
            while pending or flying:
                while pending and len(flying) < window:
                    unit = pending.popleft()
                    flying[self.remote.remote(unit)] = unit
                    on_start(unit)
                done, _ = ray.wait(list(flying), num_returns=1, timeout=0.5)
                for ref in done:
                    unit = flying.pop(ref)
                    on_done(unit, self._outcome(ref, unit, "lost"))
        except KeyboardInterrupt:
            for ref in flying:  # a KeyboardInterrupt inside the task: the run writes its files
                ray.cancel(ref)
            deadline = time.monotonic() + STOP_SECONDS
            for ref, unit in flying.items():
                ray.wait([ref], timeout=max(deadline - time.monotonic(), 0.1))
                on_done(unit, self._outcome(ref, unit, "interrupted"))
            raise

    def _outcome(self, ref, unit: Unit, otherwise: str) -> Outcome:
        try:
            return self.ray.get(ref, timeout=0)
        except Exception as error:  # a worker lost beyond its retries, a cancelled task
            text = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return Outcome(unit.key, otherwise, message=f"{type(error).__name__}: {text}")

    def close(self) -> None:
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


def _check_reachable(address: str | None) -> None:
    """A quick TCP connection to ``host:port`` first: ``ray.init`` itself retries for minutes."""
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(
            f"--address {address!r}: expected HOST:PORT of a Ray head (e.g. 10.0.0.5:6379) or "
            "ray://HOST:10001"
        )
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise UserError(_unreachable(address, error)) from None


def _unreachable(address: str | None, error: BaseException) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = f"--address {address}" if address else "a local Ray runtime"
    return (
        f"{where}: cannot connect ({reason}); check the head's address (`ray status` on the "
        "head) or drop --address to start a local Ray runtime"
    )


__all__ = ["INSTALL", "RayExecutor"]
