"""Manifolds by name: thin wrappers over geoopt. ``MANIFOLDS`` is a
:class:`~sliceflow.registry.Registry`; a module of this package registers its manifold with
``@register_manifold`` (under the class's ``name``) on import."""

from __future__ import annotations

from sliceflow.manifolds.base import Manifold, ManifoldConfig
from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.registry import Registry

MANIFOLDS: Registry = Registry("manifold", __name__)
MANIFOLDS.add(Euclidean.name, Euclidean)


def register_manifold(cls: type[Manifold]) -> type[Manifold]:
    """Class decorator: the manifold is available under its ``name``."""
    return MANIFOLDS.add(cls.name, cls)


def get_manifold(name: object) -> type[Manifold]:
    """The manifold class registered as ``name``; ``ValueError`` naming the known ones."""
    return MANIFOLDS.lookup(name)


MANIFOLDS.load()

__all__ = ["MANIFOLDS", "Manifold", "ManifoldConfig", "Euclidean", "get_manifold",
           "register_manifold"]  # fmt: skip
