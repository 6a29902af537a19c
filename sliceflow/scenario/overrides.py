"""Command-line changes to a scenario: ``--set key.path=value`` overrides and method labels.

A path walks mappings by key and lists by index or by an entry's label (or method name):
``methods.swd.lr`` is the ``lr`` of the entry labelled ``swd``, ``methods.0.lr`` that of the
first entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from sliceflow.errors import ScenarioError
from sliceflow.yaml_safe import YAMLInputError, safe_load


def parse_override(text: str) -> tuple[str, Any]:
    """``"methods.swd.lr=0.1"`` -> ("methods.swd.lr", 0.1); the value is parsed as YAML."""
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected key.path=value, e.g. methods.swd.lr=0.1")
    key, value = text.split("=", 1)
    try:
        parsed = safe_load(value)
    except YAMLInputError as error:  # a value past the bounds is refused, not taken as text
        raise ScenarioError(f"--set {key.strip()}: {error.problem}") from None
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, str):  # YAML 1.1 reads 1e-2 as a string
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def apply_override(raw: dict, key: str, value: Any, fail: Callable[..., ScenarioError]) -> None:
    """Set ``raw[path] = value`` for the dotted ``key``; ``fail(message)`` builds the error."""
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise fail(f"--set {key!r}: expected a dotted path such as methods.swd.lr")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _list_item(node, part, parts[: depth + 1], fail)
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise fail(f"--set {key}: {'.'.join(parts[: depth + 1])} is not a mapping or a list")
    if isinstance(node, list):
        raise fail(f"--set {key}: name an entry of the list (index or label) and a key")
    node[parts[-1]] = value


def default_label(method: Any) -> Any:
    """The label of a method entry that gives none: its name, or for a class reference
    ``package.module:ClassName`` the class name (labels name files and ``--set`` paths)."""
    return method.rpartition(":")[2] if isinstance(method, str) else method


def _list_item(items: list, part: str, path: list[str], fail) -> Any:
    if part.isdigit() and int(part) < len(items):
        return items[int(part)]
    for item in items:
        if not isinstance(item, dict):
            continue
        method = item.get("method")
        if part in (item.get("label"), method, default_label(method)):
            return item
    raise fail(f"--set: no entry {part!r} in {'.'.join(path[:-1])} (use an index or a label)")


__all__ = ["apply_override", "default_label", "parse_override"]
