"""Kinds of run by name (a scenario's ``task:`` key; ``flow`` by default).

A task turns a validated scenario into one ``Stepper`` per method (all seeds batched) that the
engine advances step by step; the engine writes what they produce through the run-directory
contract and handles progress, checkpoints, Ctrl-C and ``--resume`` the same way for every task.
Adding a kind of run = one module here with a ``@register_task("name")`` class (see ``base.py``).
"""

from __future__ import annotations

from sliceflow.registry import Registry
from sliceflow.tasks.base import Stepper, Task

TASKS: Registry = Registry("task", __name__)
register_task = TASKS.register  # @register_task("plan") makes a task available as ``task: plan``


def get_task(name: object) -> type[Task]:
    """The task class registered as ``name``; ``ValueError`` naming the known tasks."""
    return TASKS.lookup(name)


__all__ = ["TASKS", "Stepper", "Task", "get_task", "register_task"]
