"""``task: plan``: the task and its steppers (``task``), its scenario model and rules
(``scenario``) and its methods (``methods``: plan methods, thin adapters over the maths)."""

from sliceflow.tasks.plan import task as task  # registers the task
