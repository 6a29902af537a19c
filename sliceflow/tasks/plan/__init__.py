"""``task: plan``: the task (``task``), its scenario and its methods as thin adapters."""

from sliceflow.tasks.plan import task as task  # registers the task
