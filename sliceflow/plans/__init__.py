"""Plan methods by name, for the plan task (``task: plan``): each builds a permutation plan
between fixed clouds (all seeds batched) and may improve it step by step. Adding a method = one
module in this package with a ``@register_plan("name")`` class (modules register on import)."""

from __future__ import annotations

from sliceflow.errors import closest
from sliceflow.plans.base import PlanConfig, PlanContext, PlanMethod

PLAN_METHODS: dict[str, type[PlanMethod]] = {}


def register_plan(name: str):
    """Class decorator: ``@register_plan("exact")`` makes the plan method available by name."""

    def decorate(cls: type[PlanMethod]) -> type[PlanMethod]:
        if name in PLAN_METHODS:
            raise RuntimeError(f"plan method {name!r} registered twice")
        cls.name = name
        PLAN_METHODS[name] = cls
        return cls

    return decorate


def get_plan_method(name: str) -> type[PlanMethod]:
    """The class of plan method ``name``; ``ValueError`` naming the known ones."""
    if name not in PLAN_METHODS:
        known = sorted(PLAN_METHODS)
        raise ValueError(
            f"unknown plan method {name!r}{closest(name, known)}; known plan methods: "
            f"{', '.join(known)}"
        )
    return PLAN_METHODS[name]


def _import_all() -> None:
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = [
    "PLAN_METHODS",
    "PlanConfig",
    "PlanContext",
    "PlanMethod",
    "get_plan_method",
    "register_plan",
]
