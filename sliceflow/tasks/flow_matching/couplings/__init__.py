"""Couplings of source and target samples for conditional flow matching, by name.

``independent`` (I-CFM), ``minibatch_ot`` (OT-CFM), ``sinkhorn`` (entropic OT), ``min_swgg`` and
``dgswp`` (sliced plans on aggregated minibatches). Adding one = one module in this package with a
``@register_coupling("name")`` class (a pydantic ``Config``, ``pair(x0, x1)``, ``state_dict``);
modules register themselves on import: there is no list to edit.
"""

from __future__ import annotations

from sliceflow.registry import Registry
from sliceflow.tasks.flow_matching.couplings.base import Coupling, CouplingConfig, CouplingContext

COUPLINGS: Registry = Registry("coupling", __name__)
register_coupling = COUPLINGS.register  # @register_coupling("dgswp") makes a coupling available


def get_coupling(name: str) -> type[Coupling]:
    """The coupling class registered as ``name``; ``ValueError`` naming the known ones."""
    return COUPLINGS.lookup(name)


__all__ = [
    "COUPLINGS",
    "Coupling",
    "CouplingConfig",
    "CouplingContext",
    "get_coupling",
    "register_coupling",
]
