"""The Poincaré ball: its maths (``math``: Lorentz/Poincaré conversions, exp/log maps, parallel
transport, geodesic distances, Busemann functions, geodesic coordinates) beside its thin class
over geoopt (``manifold``)."""

from __future__ import annotations

from sliceflow.manifolds.poincare.manifold import PoincareBall, PoincareConfig

__all__ = ["PoincareBall", "PoincareConfig"]
