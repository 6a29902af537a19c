"""Conditional flow matching (``task: flow_matching``): the task, its scenario (``scenario``),
the couplings of source and target samples (``couplings``: thin adapters over the maths), the
velocity network, the training data stream and the ODE samplers used to evaluate a trained
network."""

from sliceflow.tasks.flow_matching import task as task  # registers the task
