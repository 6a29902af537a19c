"""Third-party methods and datasets, found through entry points (``importlib.metadata``).

A package registers flows under the entry-point group ``sliceflow.flows`` and datasets under
``sliceflow.datasets``. An entry point names either a module, whose import registers names with
``@register`` / ``@register_dataset`` (they are then attributed to the package), or an object
that the registry takes under the entry point's name (a ``Flow`` subclass; a ``Dataset``). A
plugin that fails to load is reported in one line and skipped: the other methods still work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

BUILTIN = "sliceflow"


@dataclass
class Plugins:
    """Where each registered name comes from, and the plugins that did not load."""

    origins: dict[str, str] = field(default_factory=dict)  # name -> "plugin <dist> ..."
    broken: dict[str, str] = field(default_factory=dict)  # entry point name -> one line
    seen: set[tuple[str, str]] = field(default_factory=set)  # entry points tried already

    def origin(self, name: str) -> str:
        return self.origins.get(name, BUILTIN)


def load_group(group: str, registries: list[dict], add: Callable[[str, Any], None],
               found: Plugins) -> Plugins:  # fmt: skip
    """Load every entry point of ``group`` not tried yet into ``registries`` (dicts keyed by
    name, or by ``(name, manifold)``), recording origins and failures in ``found``.

    ``add(name, obj)`` registers an object whose import registered nothing, raising
    ``TypeError``/``ValueError``/``RuntimeError`` if it does not fit. A call made while another
    group is loading (a plugin importing ``sliceflow.flows`` from a dataset plugin, say) waits
    until that load is over, so that no plugin is read half-imported.
    """
    global _ACTIVE
    if _ACTIVE:
        _DEFERRED.append(lambda: load_group(group, registries, add, found))
        return found
    _ACTIVE = True
    try:
        _load(group, registries, add, found)
    finally:
        _ACTIVE = False
    while _DEFERRED:
        _DEFERRED.pop(0)()
    return found


_ACTIVE = False
_DEFERRED: list[Callable[[], Any]] = []


def _load(group: str, registries: list[dict], add: Callable[[str, Any], None],
          found: Plugins) -> None:  # fmt: skip
    for point in sorted(entry_points(group=group), key=lambda p: (p.name, p.value)):
        if (point.name, point.value) in found.seen:
            continue
        found.seen.add((point.name, point.value))
        dist = getattr(point, "dist", None)
        package = f"{dist.name} {dist.version}" if dist is not None else "an unknown package"
        origin = f"plugin {package} ({point.value})"
        before = [set(registry) for registry in registries]
        try:
            loaded = point.load()
            new = [key for registry, old in zip(registries, before, strict=True)
                   for key in registry if key not in old]  # fmt: skip
            if not new:
                if _is_module(loaded):
                    raise ValueError("the module registered nothing")
                add(point.name, loaded)
                new = [point.name]
            for key in new:
                found.origins[key[0] if isinstance(key, tuple) else key] = origin
        except Exception as error:  # any failure of third-party code: report it, go on
            for registry, old in zip(registries, before, strict=True):
                for key in [k for k in registry if k not in old]:
                    del registry[key]
            text = str(error).strip().splitlines()[0] if str(error).strip() else ""
            reason = f"{type(error).__name__}: {text}" if text else type(error).__name__
            name = dist.name if dist is not None else point.value.split(":")[0]
            found.broken[point.name] = (
                f"plugin {point.name!r} ({group} = {point.value}, from {package}) does not load "
                f"({reason}); fix or uninstall {name}"
            )


def _is_module(value: Any) -> bool:
    import types

    return isinstance(value, types.ModuleType)


def import_object(reference: str) -> Any:
    """``"package.module:Name"`` (``Name`` may be dotted) -> the object; ``ValueError`` (one
    line) when the module cannot be imported or has no such name."""
    import importlib

    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{reference!r}: expected package.module:ClassName")
    try:
        value: Any = importlib.import_module(module_name)
    except Exception as error:  # an ImportError, or anything the module raises on import
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"{reference!r}: cannot import {module_name!r} ({type(error).__name__}: {text}); "
            "install the package that provides it or fix the name"
        ) from None
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ValueError(f"{reference!r}: {module_name!r} has no {attribute!r}; fix the name")
        value = getattr(value, part)
    return value


__all__ = ["BUILTIN", "Plugins", "import_object", "load_group"]
