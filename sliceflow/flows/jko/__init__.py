"""JKO-style sliced-Wasserstein flows (registered as ``jko_sw``): the flow (``flow``), the
functionals F it minimises (``functionals``), their closed-form kernels (``kernels``) and the
normalising-flow representation of rho (``normalizing_flow``)."""

from __future__ import annotations

from sliceflow.flows.jko import flow as flow  # importing the module registers jko_sw
