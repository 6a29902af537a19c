"""Couplings of source and target samples for conditional flow matching, by name.

``independent`` (I-CFM), ``minibatch_ot`` (OT-CFM), ``sinkhorn`` (entropic OT), ``min_swgg`` and
``dgswp`` (sliced plans on aggregated minibatches). Adding one = one module in this package with a
``@register_coupling("name")`` class (a pydantic ``Config``, ``pair(x0, x1)``, ``state_dict``);
modules register themselves on import: there is no list to edit.
"""

from __future__ import annotations

from sliceflow.cfm.couplings.base import Coupling, CouplingConfig, CouplingContext
from sliceflow.errors import closest

COUPLINGS: dict[str, type[Coupling]] = {}


def register_coupling(name: str):
    """Class decorator: ``@register_coupling("dgswp")`` makes the coupling available by name."""

    def decorate(cls: type[Coupling]) -> type[Coupling]:
        if name in COUPLINGS:
            raise RuntimeError(f"coupling {name!r} registered twice")
        cls.name = name
        COUPLINGS[name] = cls
        return cls

    return decorate


def get_coupling(name: str) -> type[Coupling]:
    """The coupling class registered as ``name``; ``ValueError`` naming the known ones."""
    _import_all()
    if name not in COUPLINGS:
        known = sorted(COUPLINGS)
        raise ValueError(
            f"unknown coupling {name!r}{closest(name, known)}; known couplings: {', '.join(known)}"
        )
    return COUPLINGS[name]


def _import_all() -> None:
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


__all__ = [
    "COUPLINGS",
    "Coupling",
    "CouplingConfig",
    "CouplingContext",
    "get_coupling",
    "register_coupling",
]
