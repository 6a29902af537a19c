"""sliceflow: sliced-Wasserstein particle flows in Euclidean space and on the Poincaré ball.

Public face: ``run`` (a scenario -> traces, files), ``sweep`` (a grid of runs), ``load_scenario``,
the registries ``FLOWS``, ``MANIFOLDS``, ``DATASETS`` and ``TASKS`` (each a
:class:`~sliceflow.registry.Registry`), and the one-line user errors. Everything is
imported on first use, so ``sliceflow --help`` does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sliceflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

_LAZY = {
    "run": ("sliceflow.engine", "run"),
    "sweep": ("sliceflow.engine.sweep", "sweep"),
    "RunResult": ("sliceflow.engine", "RunResult"),
    "RunInterrupted": ("sliceflow.engine", "RunInterrupted"),
    "load_scenario": ("sliceflow.scenario", "load_scenario"),
    "ScenarioError": ("sliceflow.errors", "ScenarioError"),
    "RunDirError": ("sliceflow.errors", "RunDirError"),
    "UserError": ("sliceflow.errors", "UserError"),
    "FLOWS": ("sliceflow.flows", "FLOWS"),
    "MANIFOLDS": ("sliceflow.manifolds", "MANIFOLDS"),
    "DATASETS": ("sliceflow.datasets", "DATASETS"),
    "TASKS": ("sliceflow.tasks", "TASKS"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module 'sliceflow' has no attribute {name!r}")


__all__ = ["DATASETS", "FLOWS", "MANIFOLDS", "TASKS", "RunDirError", "RunInterrupted", "RunResult",
           "ScenarioError", "UserError", "load_scenario", "run", "sweep",
           "__version__"]  # fmt: skip
