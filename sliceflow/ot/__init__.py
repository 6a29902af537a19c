"""Optimal-transport maths shared by the flows."""

from sliceflow.ot.sinkhorn import (
    SinkhornDivergenceResult,
    SinkhornResult,
    sinkhorn,
    sinkhorn_divergence,
    squared_euclidean_cost,
)

__all__ = [
    "SinkhornDivergenceResult",
    "SinkhornResult",
    "sinkhorn",
    "sinkhorn_divergence",
    "squared_euclidean_cost",
]
