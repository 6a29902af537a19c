"""Kinds of run by name (a scenario's ``task:`` key; ``flow`` by default).

A task turns a validated scenario into one ``Stepper`` per method (all seeds batched) that the
engine advances step by step; the engine writes what they produce through the run-directory
contract and handles progress, checkpoints, Ctrl-C and ``--resume`` the same way for every task.
Adding a kind of run = one module here with a ``@register_task("name")`` class (see ``base.py``).
"""

from __future__ import annotations

from sliceflow.errors import closest
from sliceflow.tasks.base import Stepper, Task

TASKS: dict[str, type[Task]] = {}


def register_task(name: str):
    """Class decorator: ``@register_task("plan")`` makes the task available as ``task: plan``."""

    def decorate(cls: type[Task]) -> type[Task]:
        if name in TASKS:
            raise RuntimeError(f"task {name!r} registered twice")
        cls.name = name
        TASKS[name] = cls
        return cls

    return decorate


def get_task(name: object) -> type[Task]:
    """The task class registered as ``name``; ``ValueError`` naming the known tasks."""
    _import_all()
    if not isinstance(name, str) or name not in TASKS:
        known = sorted(TASKS)
        hint = closest(name, known) if isinstance(name, str) else ""
        raise ValueError(f"unknown task {name!r}{hint}; known tasks: {', '.join(known)}")
    return TASKS[name]


def _import_all() -> None:
    """Import every public module of this package once: a module registers its task."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


__all__ = ["TASKS", "Stepper", "Task", "get_task", "register_task"]
