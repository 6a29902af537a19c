"""Manifolds by name: thin wrappers over geoopt."""

from __future__ import annotations

from sliceflow.manifolds.base import Manifold, ManifoldConfig
from sliceflow.manifolds.euclidean import Euclidean

MANIFOLDS: dict[str, type[Manifold]] = {"euclidean": Euclidean}


def register_manifold(cls: type[Manifold]) -> type[Manifold]:
    MANIFOLDS[cls.name] = cls
    return cls


__all__ = ["MANIFOLDS", "Manifold", "ManifoldConfig", "Euclidean", "register_manifold"]
