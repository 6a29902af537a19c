"""``task: flow``: the task (``task``), its scenario and its methods as thin adapters."""

from sliceflow.tasks.flow import task as task  # registers the task
