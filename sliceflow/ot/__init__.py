"""Optimal-transport maths: fixed-support and Gaussian barycentres."""

from sliceflow.ot.barycenter import BarycenterResult, barycenter

__all__ = ["BarycenterResult", "barycenter"]
