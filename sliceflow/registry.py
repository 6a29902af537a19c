"""Entries by name: one registry type for flows, manifolds, datasets, tasks, plan methods and
couplings, with one lookup and one one-line error.

A registry is a dict (name -> class or record) with

- a decorator that registers a class (``@FLOWS.register("swd")``), or ``add`` for a record;
- variants keyed by manifold: a method's own implementation on one manifold
  (``@FLOWS.register("dgswp", manifold="poincare")``), found by ``lookup(name, manifold)``;
- a lookup whose ``ValueError`` names the closest known entry (``did you mean``) and all of them;
- optionally, class references ``package.module:ClassName`` (a registry with a ``base`` class)
  and plugins from an entry-point group (see :mod:`sliceflow.plugins`), each name attributed to
  the package that brought it (``origin``), a broken plugin kept as one line (``plugins.broken``).

The public modules of the registry's package (not ``base``, not ``_private``) are imported on
first lookup (or ``load()``), so a module registers itself and there is no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any

from sliceflow.errors import closest
from sliceflow.plugins import Plugins, import_object, load_group

Row = tuple[str, str, str]  # (name, one-line summary, where it runs and comes from, or "")


class Registry(dict):
    """Entries of one kind by name.

    Parameters
    ----------
    what : str
        One entry in messages (``"method"``, ``"plan method"``); the plural adds an ``s``.
    package : str
        The package whose public modules register into this registry.
    group : str, optional
        Entry-point group of third-party entries (``"sliceflow.flows"``).
    base : type, optional
        The class every plugin class and class reference must subclass; with it a name
        ``package.module:ClassName`` is a valid lookup.
    adopt : callable, optional
        ``adopt(name, obj) -> entry`` turns a plugin object that is not a class into the entry
        registered under ``name`` (``TypeError`` if it does not fit).
    """

    def __init__(self, what: str, package: str, *, group: str | None = None,
                 base: type | None = None,
                 adopt: Callable[[str, Any], Any] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.what, self.package, self.group = what, package, group
        self.base, self.adopt = base, adopt
        self.variants: dict[tuple[str, str], Any] = {}  # (name, manifold) -> class
        self.plugins = Plugins()
        self._loaded = False

    # -- registering ---------------------------------------------------------------------------
    def add(self, name: str, entry: Any) -> Any:
        """Register ``entry`` (a class or a record) under ``name``; ``RuntimeError`` if taken."""
        if name in self:
            raise RuntimeError(f"{self.what} {name!r} registered twice")
        self[name] = entry
        return entry

    def register(self, name: str, *, manifold: str | None = None):
        """Class decorator: ``@registry.register("name")`` makes the class available by name;
        with ``manifold``, it is the implementation of ``name`` used on that manifold (its class
        lists the manifold in ``manifolds``)."""

        def decorate(cls):
            if manifold is None:
                self.add(name, cls)
            elif (name, manifold) in self.variants:
                raise RuntimeError(f"{self.what} {name!r} registered twice")
            else:
                self.variants[(name, manifold)] = cls
            cls.name = name
            return cls

        return decorate

    def load(self) -> None:
        """Import every public module of the package, then the plugins, once."""
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{self.package}.{info.name}")
        if self.group is not None:
            self.load_plugins()

    def load_plugins(self) -> Plugins:
        """Register the entries of installed packages (entry-point group ``group``) not tried
        yet; a broken plugin is kept in ``plugins.broken`` (one line) and the others load."""
        return load_group(self.group, [self, self.variants], self._add_plugin, self.plugins)

    def _add_plugin(self, name: str, obj: Any) -> None:
        if self.adopt is not None:
            self.add(name, self.adopt(name, obj))
        elif isinstance(obj, type) and (self.base is None or issubclass(obj, self.base)):
            self.register(name)(obj)
        else:
            raise TypeError(f"{obj!r} is not a subclass of {self._base_name()}")

    def _base_name(self) -> str:
        return f"{self.package}.{self.base.__name__}" if self.base is not None else "a class"

    # -- looking up ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, variants included, sorted."""
        self.load()
        return sorted(set(self) | {name for name, _ in self.variants})

    def supported_manifolds(self, name: str) -> frozenset[str]:
        """Every manifold on which entry ``name`` runs (its own and its variants')."""
        found = set(self[name].manifolds) if name in self else set()
        return frozenset(found | {m for (n, m) in self.variants if n == name})

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: ``sliceflow`` or ``plugin <package> <version> (...)``."""
        return self.plugins.origin(name)

    def lookup(self, name: object, manifold: str | None = None) -> Any:
        """The entry registered as ``name`` (its implementation on ``manifold`` if given), or the
        class a reference ``package.module:ClassName`` names; ``ValueError`` (one line) naming
        the closest known entry and all of them, or the manifolds the entry runs on."""
        self.load()
        if self.base is not None and isinstance(name, str) and ":" in name:
            return self._referenced(name, manifold)
        known = self.names()
        if not isinstance(name, str) or name not in known:
            if isinstance(name, str) and name in self.plugins.broken:
                raise ValueError(self.plugins.broken[name])
            hint = closest(name, known) if isinstance(name, str) else ""
            raise ValueError(
                f"unknown {self.what} {name!r}{hint}; known {self.what}s: {', '.join(known)}"
            )
        if manifold is None:
            return self.get(name) or next(c for (n, _), c in self.variants.items() if n == name)
        entry = self.variants.get((name, manifold)) or self.get(name)
        if entry is None or manifold not in entry.manifolds:
            where = ", ".join(sorted(self.supported_manifolds(name)))
            raise ValueError(
                f"{self.what} {name!r} does not run on {manifold!r}; it supports: {where}"
            )
        return entry

    def _referenced(self, reference: str, manifold: str | None) -> type:
        cls = import_object(reference)
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise ValueError(f"{self.what} {reference!r} is not a subclass of {self._base_name()}")
        if manifold is not None and manifold not in cls.manifolds:
            where = ", ".join(sorted(cls.manifolds))
            raise ValueError(
                f"{self.what} {reference!r} does not run on {manifold!r}; it supports: {where}"
            )
        return cls


def catalogue(entries: Mapping[str, Any]) -> list[Row]:
    """Rows ``(name, summary, where)`` of a registry (or any mapping of entries), sorted, for
    ``sliceflow list``: a variant is a row of its own, and for a registry with plugins ``where``
    names the manifolds an entry runs on and its origin (``"euclidean; sliceflow"``)."""
    if isinstance(entries, Registry):
        entries.load()
    plugged = isinstance(entries, Registry) and entries.group is not None
    rows = []
    for name, entry in entries.items():
        where = f"{', '.join(sorted(entry.manifolds))}; {entries.origin(name)}" if plugged else ""
        rows.append((name, _summary(entry), where))
    for (name, manifold), entry in getattr(entries, "variants", {}).items():
        rows.append((name, _summary(entry), f"{manifold}; {entries.origin(name)}"))
    return sorted(rows, key=lambda row: (row[0], row[2]))


def _summary(entry: Any) -> str:
    """An entry's ``summary``, else (for a class) the first line of its docstring."""
    text = getattr(entry, "summary", "") or ""
    if not text and isinstance(entry, type):
        text = (entry.__doc__ or "").strip()
    return text.splitlines()[0] if text else ""


__all__ = ["Registry", "Row", "catalogue"]
