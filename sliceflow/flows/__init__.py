"""Flows by name. Adding a method = one module in this package with a ``@register("name")`` class
(modules register themselves on import; see CONTRIBUTING.md).

Third-party packages add flows through the entry-point group ``sliceflow.flows`` (see
:mod:`sliceflow.plugins`), and a scenario may name a class directly: ``method: mypkg.flows:MyFlow``.
"""

from __future__ import annotations

from sliceflow.errors import closest
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.plugins import Plugins, import_object, load_group

FLOWS: dict[str, type[Flow]] = {}
# Manifold-specific implementations of a method that has a general one, e.g. dgswp on the ball.
FLOW_VARIANTS: dict[tuple[str, str], type[Flow]] = {}


def register(name: str, *, manifold: str | None = None):
    """Class decorator: ``@register("swd")`` makes the flow available under ``name``.

    ``@register("dgswp", manifold="poincare")`` registers the implementation of ``dgswp`` used on
    that manifold (its class must list the manifold in ``manifolds``).
    """

    def decorate(cls: type[Flow]) -> type[Flow]:
        key = (name, manifold)
        if (manifold is None and name in FLOWS) or key in FLOW_VARIANTS:
            raise RuntimeError(f"flow {name!r} registered twice")
        cls.name = name
        if manifold is None:
            FLOWS[name] = cls
        else:
            FLOW_VARIANTS[(name, manifold)] = cls
        return cls

    return decorate


def supported_manifolds(name: str) -> frozenset[str]:
    """Every manifold on which method ``name`` runs."""
    found = set(FLOWS[name].manifolds) if name in FLOWS else set()
    found |= {m for (n, m) in FLOW_VARIANTS if n == name}
    return frozenset(found)


def flow_origin(name: str) -> str:
    """Where method ``name`` comes from: ``sliceflow`` or ``plugin <package> <version> (...)``."""
    return PLUGINS.origin(name)


def known_flows() -> list[str]:
    return sorted(set(FLOWS) | {n for (n, _) in FLOW_VARIANTS})


def get_flow(name: str, manifold: str | None = None) -> type[Flow]:
    """The class of method ``name`` (on ``manifold`` if given); ``ValueError`` with the fix.

    ``name`` is a registered name or a class reference ``package.module:ClassName``.
    """
    if ":" in name:
        return _referenced_flow(name, manifold)
    known = known_flows()
    if name not in known:
        if name in PLUGINS.broken:
            raise ValueError(PLUGINS.broken[name])
        raise ValueError(
            f"unknown method {name!r}{closest(name, known)}; known methods: {', '.join(known)}"
        )
    if manifold is None:
        return FLOWS.get(name) or next(c for (n, _), c in FLOW_VARIANTS.items() if n == name)
    cls = FLOW_VARIANTS.get((name, manifold)) or FLOWS.get(name)
    if cls is None or manifold not in cls.manifolds:
        where = ", ".join(sorted(supported_manifolds(name)))
        raise ValueError(f"method {name!r} does not run on {manifold!r}; it supports: {where}")
    return cls


def _referenced_flow(reference: str, manifold: str | None) -> type[Flow]:
    cls = import_object(reference)
    if not (isinstance(cls, type) and issubclass(cls, Flow)):
        raise ValueError(f"method {reference!r} is not a subclass of sliceflow.flows.Flow")
    if manifold is not None and manifold not in cls.manifolds:
        where = ", ".join(sorted(cls.manifolds))
        raise ValueError(f"method {reference!r} does not run on {manifold!r}; it supports: {where}")
    return cls


def _add_plugin(name: str, cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Flow)):
        raise TypeError(f"{cls!r} is not a subclass of sliceflow.flows.Flow")
    register(name)(cls)


def load_plugins() -> Plugins:
    """Register the flows of installed packages (entry-point group ``sliceflow.flows``); a
    broken plugin is kept in ``PLUGINS.broken`` (one line) and the others still load."""
    return load_group("sliceflow.flows", [FLOWS, FLOW_VARIANTS], _add_plugin, PLUGINS)


def _import_all() -> None:
    """Import every public module of this package: importing a module registers its flows."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


PLUGINS = Plugins()
_import_all()
load_plugins()

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
