"""Entropic optimal transport on batches of problems: Sinkhorn (log domain and scaling, with exact
unrolled or envelope gradients), the debiased Sinkhorn divergence and fixed-support entropic
barycentres (iterative Bregman projections). The modules are private; the names below are the
family's API.
"""

from __future__ import annotations

from sliceflow.ot.entropic._barycenter import BarycenterResult, barycenter
from sliceflow.ot.entropic._sinkhorn import (
    SinkhornDivergenceResult,
    SinkhornResult,
    sinkhorn,
    sinkhorn_divergence,
    squared_euclidean_cost,
)
from sliceflow.ot.entropic._sinkhorn_checks import SinkhornUnderflowError

__all__ = [
    "BarycenterResult",
    "SinkhornDivergenceResult",
    "SinkhornResult",
    "SinkhornUnderflowError",
    "barycenter",
    "sinkhorn",
    "sinkhorn_divergence",
    "squared_euclidean_cost",
]
