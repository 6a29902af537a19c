"""Plan methods by name, for the plan task (``task: plan``): each builds a permutation plan
between fixed clouds (all seeds batched) and may improve it step by step. Adding a method = one
module in this package with a ``@register_plan("name")`` class (modules register on import)."""

from __future__ import annotations

from sliceflow.registry import Registry
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod

PLAN_METHODS: Registry = Registry("plan method", __name__)
register_plan = PLAN_METHODS.register  # @register_plan("exact") makes a plan method available


def get_plan_method(name: str) -> type[PlanMethod]:
    """The class of plan method ``name``; ``ValueError`` naming the known ones."""
    return PLAN_METHODS.lookup(name)


PLAN_METHODS.load()

__all__ = [
    "PLAN_METHODS",
    "PlanConfig",
    "PlanContext",
    "PlanMethod",
    "get_plan_method",
    "register_plan",
]
