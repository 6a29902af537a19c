"""Manifolds by name: thin wrappers over geoopt."""

from __future__ import annotations

from sliceflow.manifolds.base import Manifold, ManifoldConfig
from sliceflow.manifolds.euclidean import Euclidean

MANIFOLDS: dict[str, type[Manifold]] = {"euclidean": Euclidean}


def register_manifold(cls: type[Manifold]) -> type[Manifold]:
    MANIFOLDS[cls.name] = cls
    return cls


def _import_all() -> None:
    """Import every public module of this package: a module registers its manifold on import."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name not in ("base", "euclidean"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["MANIFOLDS", "Manifold", "ManifoldConfig", "Euclidean", "register_manifold"]
