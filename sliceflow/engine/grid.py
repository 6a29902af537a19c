"""The grid of a sweep: ``--grid path=v1,v2`` axes, their product, every point validated.

Paths are the ones ``--set`` takes (list entries by index or label). Every point is built and
checked (its scenario, its data for the first seed, each method's construction) before anything
runs, so a bad value stops the sweep with one line naming its point.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sliceflow.errors import ScenarioError, UserError, closest
from sliceflow.sweepdir import value_text

MAX_POINTS = 100  # a larger grid needs --yes
_NAME_LIMIT = 120


@dataclass(frozen=True)
class Axis:
    """One swept path and its values (parsed as YAML, like ``--set``)."""

    path: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    """One setting of the grid: its folder name, its values and its validated scenario."""

    name: str
    values: dict[str, Any]  # path -> value
    scenario: Any  # a validated ScenarioBase

    @property
    def identity(self) -> str:
        """A digest of everything that sets the point's numbers (output options excluded)."""
        from sliceflow.engine.book import scenario_identity

        text = json.dumps(scenario_identity(self.scenario), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_axis(text: str) -> Axis:
    """``"methods.swd.lr=0.01,0.1,1"`` -> Axis; values split at top-level commas (a YAML list
    such as ``[1, 2]`` stays one value)."""
    from sliceflow.scenario import parse_override

    if "=" not in text:
        raise UserError(f"--grid {text!r}: expected path=v1,v2,..., e.g. methods.swd.lr=0.01,0.1")
    path, values = text.split("=", 1)
    path = path.strip()
    pieces = [piece for piece in _split_top_level(values) if piece.strip()]
    if not path or not pieces:
        raise UserError(f"--grid {text!r}: give a path and at least one value, e.g. lr=0.01,0.1")
    return Axis(path, tuple(parse_override(f"{path}={piece}")[1] for piece in pieces))


def _split_top_level(text: str) -> list[str]:
    pieces, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            pieces.append(current)
            current = ""
            continue
        current += char
    return [*pieces, current]


def point_names(axes: list[Axis], combos: list[tuple]) -> list[str]:
    """``path=value,path=value`` per point (file-safe); ``point-007`` style when such names
    would be too long or clash."""
    names = []
    for combo in combos:
        text = ",".join(f"{a.path}={value_text(v)}" for a, v in zip(axes, combo, strict=True))
        names.append(re.sub(r"[^A-Za-z0-9_.=,+\-]+", "_", text))
    if len(set(names)) < len(names) or max(len(n) for n in names) > _NAME_LIMIT:
        width = len(str(len(combos) - 1))
        names = [f"point-{i:0{width}d}" for i in range(len(combos))]
    return names


def plan_points(scenario_path: str | Path, axes: list[Axis], sets: dict[str, Any] | None = None,
                *, yes: bool = False, limit: int = MAX_POINTS) -> list[Point]:  # fmt: skip
    """Every point of the grid, validated; UserError (one line) if any is bad."""
    from sliceflow.scenario import load_scenario

    sets = dict(sets or {})
    if not axes:
        raise UserError("give at least one --grid path=v1,v2,... to sweep over")
    paths = [axis.path for axis in axes]
    for path in paths:
        if paths.count(path) > 1:
            raise UserError(f"--grid {path}: given twice; list all its values in one --grid")
        if path.split(".")[0] in ("output", "name"):
            raise UserError(f"--grid {path}: outputs and names do not change a run; use --set")
    for axis in axes:
        if len({value_text(v) for v in axis.values}) < len(axis.values):
            raise UserError(f"--grid {axis.path}: a value is repeated; give each value once")
    count = math.prod(len(axis.values) for axis in axes)
    if count > limit and not yes:
        raise UserError(
            f"the grid has {count} points, more than {limit}; add --yes to run them all"
        )
    base = load_scenario(scenario_path, overrides=sets or None)
    known = sorted(valid_paths(base.to_dict()))
    for axis in axes:
        _check_path(scenario_path, sets, axis, base.to_dict(), known)
    combos = list(itertools.product(*(axis.values for axis in axes)))
    points = []
    for name, combo in zip(point_names(axes, combos), combos, strict=True):
        values = dict(zip(paths, combo, strict=True))
        try:
            scenario = load_scenario(scenario_path, overrides={**sets, **values})
            check_point(scenario)
        except UserError as error:
            raise UserError.verbatim(f"grid point {name}: {error}") from None
        points.append(Point(name, values, scenario))
    return points


def check_point(scenario) -> None:
    """Build the first seed's data and every method's stepper: what a run does before step 0."""
    import torch

    from sliceflow.tasks import get_task

    first = scenario.model_copy(update={"seeds": scenario.seeds[:1]})
    task = get_task(scenario.task)(first, torch.device("cpu"))
    for label in scenario.labels:
        task.stepper(label)


def valid_paths(data: Any, prefix: str = "") -> set[str]:
    """Every path of a resolved scenario dict, list entries by label (``methods.swd.lr``)."""
    found: set[str] = {prefix} if prefix else set()
    if isinstance(data, dict):
        for key, value in data.items():
            found |= valid_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            label = item.get("label") if isinstance(item, dict) else None
            found |= valid_paths(item, f"{prefix}.{label if label is not None else index}")
    return found


def _resolves(data: Any, parts: list[str]) -> bool:
    for part in parts:
        if isinstance(data, list):
            match = [
                i for i in data if isinstance(i, dict) and part in (i.get("label"), i.get("method"))
            ]
            if part.isdigit() and int(part) < len(data):
                data = data[int(part)]
            elif match:
                data = match[0]
            else:
                return False
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return False
    return True


def _check_path(scenario_path, sets: dict, axis: Axis, resolved: dict, known: list[str]) -> None:
    """An unknown path is one line with the closest valid path; a path the resolved scenario
    does not show (an unset optional key such as source.n_samples) is tried with a value."""
    from sliceflow.scenario import load_scenario

    if _resolves(resolved, axis.path.split(".")):
        return
    try:
        load_scenario(scenario_path, overrides={**sets, axis.path: axis.values[0]})
    except ScenarioError as error:
        if error.message.startswith(("unknown key", "--set")):
            raise UserError(
                f"--grid {axis.path}: unknown path{closest(axis.path, known)}; paths are the "
                "scenario's keys, list entries by label or index (e.g. methods.swd.lr)"
            ) from None


__all__ = ["MAX_POINTS", "Axis", "Point", "check_point", "parse_axis", "plan_points",
           "point_names", "valid_paths", "value_text"]  # fmt: skip
