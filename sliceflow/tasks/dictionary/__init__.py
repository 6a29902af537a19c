"""``task: dictionary``: the task (``task``), its scenario model and rules (``scenario``) and its
method, the Wasserstein dictionary learner (``learner``)."""

from sliceflow.tasks.dictionary import task as task  # registers the task
