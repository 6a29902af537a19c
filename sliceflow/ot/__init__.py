"""Optimal-transport maths: fixed-support entropic barycentres and Gaussian (Bures) barycentres."""

from sliceflow.ot.barycenter import BarycenterResult, barycenter
from sliceflow.ot.gaussian_barycenter import (
    BuresBarycenterResult,
    bures_barycenter,
    bures_wasserstein2,
    sqrtm_psd,
)

__all__ = [
    "BarycenterResult",
    "BuresBarycenterResult",
    "barycenter",
    "bures_barycenter",
    "bures_wasserstein2",
    "sqrtm_psd",
]
