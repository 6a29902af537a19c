"""Flows by name. Adding a method = one module, one ``@register`` line, one import below."""

from __future__ import annotations

import difflib

from sliceflow.flows.base import Flow, FlowConfig, FlowContext

FLOWS: dict[str, type[Flow]] = {}


def register(name: str):
    """Class decorator: ``@register("swd")`` makes the flow available under ``name``."""

    def decorate(cls: type[Flow]) -> type[Flow]:
        if name in FLOWS:
            raise RuntimeError(f"flow {name!r} registered twice")
        cls.name = name
        FLOWS[name] = cls
        return cls

    return decorate


def closest(name: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def get_flow(name: str) -> type[Flow]:
    """The flow class registered under ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return FLOWS[name]
    except KeyError:
        known = sorted(FLOWS)
        raise ValueError(
            f"unknown method {name!r}{closest(name, known)}; known methods: {', '.join(known)}"
        ) from None


def _import_all() -> None:
    """Import every public module of this package: importing a module registers its flows."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["FLOWS", "Flow", "FlowConfig", "FlowContext", "get_flow", "register"]
