"""Flows by name. Adding a method = one module in this package with a ``@register("name")`` class
(modules register themselves on import; see CONTRIBUTING.md).

Third-party packages add flows through the entry-point group ``sliceflow.flows`` (see
:mod:`sliceflow.plugins`), and a scenario may name a class directly: ``method: mypkg.flows:MyFlow``.
``FLOWS`` is a :class:`~sliceflow.registry.Registry`: ``FLOWS.variants`` (``FLOW_VARIANTS``) holds
the manifold-specific implementations of a method that has a general one, e.g. dgswp on the ball.
"""

from __future__ import annotations

from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.plugins import Plugins
from sliceflow.registry import Registry

FLOWS: Registry = Registry("method", __name__, group="sliceflow.flows", base=Flow)
FLOW_VARIANTS: dict[tuple[str, str], type[Flow]] = FLOWS.variants  # (name, manifold) -> class
PLUGINS: Plugins = FLOWS.plugins  # where each flow comes from, the plugins that did not load

# ``@register("swd")`` makes a flow available under its name; ``@register("dgswp",
# manifold="poincare")`` registers the implementation of ``dgswp`` used on that manifold.
register = FLOWS.register


def get_flow(name: str, manifold: str | None = None) -> type[Flow]:
    """The class of method ``name`` (on ``manifold`` if given); ``ValueError`` with the fix.

    ``name`` is a registered name or a class reference ``package.module:ClassName``.
    """
    return FLOWS.lookup(name, manifold)


def known_flows() -> list[str]:
    """Every registered method name, sorted."""
    return FLOWS.names()


def supported_manifolds(name: str) -> frozenset[str]:
    """Every manifold on which method ``name`` runs."""
    return FLOWS.supported_manifolds(name)


def flow_origin(name: str) -> str:
    """Where method ``name`` comes from: ``sliceflow`` or ``plugin <package> <version> (...)``."""
    return FLOWS.origin(name)


def load_plugins() -> Plugins:
    """Register the flows of installed packages (entry-point group ``sliceflow.flows``); a
    broken plugin is kept in ``FLOWS.plugins.broken`` (one line) and the others still load."""
    return FLOWS.load_plugins()


FLOWS.load()

__all__ = [
    "FLOWS",
    "FLOW_VARIANTS",
    "PLUGINS",
    "flow_origin",
    "load_plugins",
    "known_flows",
    "supported_manifolds",
    "Flow",
    "FlowConfig",
    "FlowContext",
    "get_flow",
    "register",
]
