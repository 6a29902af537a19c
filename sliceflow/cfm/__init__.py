"""Conditional flow matching (``task: flow_matching``): the velocity network, the couplings of
source and target samples (``sliceflow.cfm.couplings``), the training data stream and the ODE
samplers used to evaluate a trained network.
"""
