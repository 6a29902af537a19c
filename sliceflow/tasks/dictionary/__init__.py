"""``task: dictionary``: the task (``task``), its scenario and its methods as thin adapters."""

from sliceflow.tasks.dictionary import task as task  # registers the task
