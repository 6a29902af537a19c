"""Flows by name. Adding a method = one module in this package with a ``@register("name")`` class
(modules register themselves on import; see CONTRIBUTING.md)."""

from __future__ import annotations

from sliceflow.errors import closest
from sliceflow.flows.base import Flow, FlowConfig, FlowContext

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


def known_flows() -> list[str]:
    return sorted(set(FLOWS) | {n for (n, _) in FLOW_VARIANTS})


def get_flow(name: str, manifold: str | None = None) -> type[Flow]:
    """The class of method ``name`` (on ``manifold`` if given); ``ValueError`` with the fix."""
    known = known_flows()
    if name not in known:
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


def _import_all() -> None:
    """Import every public module of this package: importing a module registers its flows."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = [
    "FLOWS",
    "FLOW_VARIANTS",
    "known_flows",
    "supported_manifolds",
    "Flow",
    "FlowConfig",
    "FlowContext",
    "get_flow",
    "register",
]
