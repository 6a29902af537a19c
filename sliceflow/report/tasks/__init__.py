"""Per-task reports by task name: what a plan, dictionary or flow-matching run adds.

A report registers itself with ``@register_report("<task>")`` in a module of this package; the
package's modules are imported on first lookup, so there is no list to edit. The building blocks
they draw with (style, trace figure, tables, documents, GIFs, particles, snapshots, images) stay
in :mod:`sliceflow.report`.
"""

from __future__ import annotations

from sliceflow.registry import Registry
from sliceflow.report.tasks.base import TaskReport

REPORTS = Registry("report", "sliceflow.report.tasks")
register_report = REPORTS.register


def task_report(task: str) -> TaskReport:
    """The report registered for ``task``; the generic trace report (``TaskReport``) if none.

    Parameters
    ----------
    task : str
        The run's task, as scenario.yaml records it (any string: a damaged file may hold one).

    Returns
    -------
    TaskReport
        An instance whose hooks add the task's figures and tables.
    """
    REPORTS.load()
    return REPORTS.get(task, TaskReport)()


__all__ = ["REPORTS", "TaskReport", "register_report", "task_report"]
