"""Classes by name: a registry is a dict with a decorator that registers a class and a lookup whose
error names the known ones. The package's public modules are imported on first lookup (or on
``load()``), so a module registers itself and there is no list to edit."""

from __future__ import annotations

import importlib
import pkgutil

from sliceflow.errors import closest


class Registry(dict):
    """``what`` names one entry in messages (e.g. ``"plan method"``); ``package`` is the package
    whose public modules (not ``base``, not ``_private``) register into it."""

    def __init__(self, what: str, package: str) -> None:
        super().__init__()
        self.what, self.package, self._loaded = what, package, False

    def register(self, name: str):
        """Class decorator: ``@registry.register("name")`` makes the class available by name."""

        def decorate(cls):
            if name in self:
                raise RuntimeError(f"{self.what} {name!r} registered twice")
            cls.name = name
            self[name] = cls
            return cls

        return decorate

    def load(self) -> None:
        """Import every public module of the package, once."""
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{self.package}.{info.name}")

    def lookup(self, name: object):
        """The class registered as ``name``; ``ValueError`` naming the known ones."""
        self.load()
        if not isinstance(name, str) or name not in self:
            known = sorted(self)
            hint = closest(name, known) if isinstance(name, str) else ""
            raise ValueError(
                f"unknown {self.what} {name!r}{hint}; known {self.what}s: {', '.join(known)}"
            )
        return self[name]


__all__ = ["Registry"]
