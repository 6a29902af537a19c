"""``task: flow`` (the default), the particle flow: the task and its steppers (``task``), its
scenario model and rules (``scenario``), what a run records (``records``, ``estimators``) and the
flow toward several weighted targets (``barycenter``); its methods are the flows of
:mod:`sliceflow.flows`."""

from sliceflow.tasks.flow import task as task  # registers the task
