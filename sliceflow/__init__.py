"""sliceflow: sliced-Wasserstein particle flows in Euclidean space and on the Poincaré ball."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sliceflow.flows import FLOWS
from sliceflow.manifolds import MANIFOLDS

try:
    __version__ = version("sliceflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"


def __getattr__(name: str):
    # Lazy: `import sliceflow.flows` stays light; the engine and scenario load on first use.
    if name == "run":
        from sliceflow.engine import run

        return run
    if name == "load_scenario":
        from sliceflow.scenario import load_scenario

        return load_scenario
    raise AttributeError(name)


__all__ = ["FLOWS", "MANIFOLDS", "load_scenario", "run", "__version__"]
