"""Scenario files: YAML loading, overrides and precise one-line errors.

A scenario is plain YAML (see README, "Scenario format"). Unknown keys are rejected everywhere;
dataset and method parameters are validated by the dataset's or the flow's own ``Config``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sliceflow._scenario_models import (
    DistributionSpec,
    ManifoldSpec,
    MethodSpec,
    Scenario,
    ScenarioError,
)
from sliceflow.datasets import get_dataset
from sliceflow.flows import closest, get_flow
from sliceflow.manifolds import MANIFOLDS

__all__ = ["Scenario", "ScenarioError", "build_scenario", "load_scenario", "parse_override"]

TOP_KEYS = set(Scenario.model_fields) - {"base_dir"}


def load_scenario(
    path: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    methods: list[str] | None = None,
) -> Scenario:
    """Read, override and validate a scenario file; ``ScenarioError`` (one line) on bad input."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise ScenarioError(f"file not found{hint}; check the path", source=source)
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(
            f"YAML syntax error: {problem}; fix the YAML", source=source, line=line
        ) from None
    return build_scenario(
        raw,
        source=source,
        lines=lines,
        base_dir=path.parent,
        overrides=overrides,
        seeds=seeds,
        steps=steps,
        methods=methods,
    )


def build_scenario(
    raw: Any,
    *,
    source: str = "<scenario>",
    lines: dict[tuple, int] | None = None,
    base_dir: str | Path = ".",
    overrides: dict[str, Any] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    methods: list[str] | None = None,
) -> Scenario:
    """Validate a scenario given as a dict (what ``load_scenario`` does after parsing YAML)."""
    lines = lines or {}

    def fail(message: str, path=()) -> ScenarioError:
        return ScenarioError(message, source=source, path=path, line=_nearest_line(lines, path))

    if not isinstance(raw, dict):
        raise fail("a scenario must be a mapping of keys (name, steps, methods, ...)")
    raw = copy.deepcopy(raw)
    for key, value in (overrides or {}).items():
        _apply_override(raw, key, value, fail)
    if seeds is not None:
        raw["seeds"] = seeds
    if steps is not None:
        raw["steps"] = steps
    for key in raw:
        if key not in TOP_KEYS:
            raise fail(
                f"unknown key{closest(str(key), sorted(TOP_KEYS))}; allowed keys: "
                f"{', '.join(sorted(TOP_KEYS))}",
                (key,),
            )
    data = dict(raw)
    data["seeds"] = _seeds(raw.get("seeds", 10), fail)
    manifold = _manifold(raw.get("manifold", "euclidean"), fail)
    data["manifold"] = manifold
    for side in ("source", "target"):
        if side in raw:
            data[side] = _distribution(raw[side], side, manifold.name, fail)
    data["methods"] = _methods(raw.get("methods"), manifold.name, methods, fail)
    data["base_dir"] = str(base_dir)
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise _from_pydantic(error, (), fail) from None


def parse_override(text: str) -> tuple[str, Any]:
    """``"methods.swd.lr=0.1"`` -> ("methods.swd.lr", 0.1); the value is parsed as YAML."""
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected key.path=value, e.g. methods.swd.lr=0.1")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, str):  # YAML 1.1 reads 1e-2 as a string
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def _apply_override(raw: dict, key: str, value: Any, fail) -> None:
    parts = key.split(".")
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


def _list_item(items: list, part: str, path: list[str], fail) -> Any:
    if part.isdigit() and int(part) < len(items):
        return items[int(part)]
    for item in items:
        if isinstance(item, dict) and part in (item.get("label"), item.get("method")):
            return item
    raise fail(f"--set: no entry {part!r} in {'.'.join(path[:-1])} (use an index or a label)")


def _seeds(value: Any, fail) -> list[int]:
    if isinstance(value, bool) or not isinstance(value, (int, list)):
        raise fail("seeds must be a count (e.g. 10) or a list of seeds (e.g. [0, 3])", ("seeds",))
    seeds = list(range(value)) if isinstance(value, int) else value
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise fail("seeds must be a positive count or a list of integers >= 0", ("seeds",))
    if len(set(seeds)) != len(seeds):
        raise fail("seeds must not repeat", ("seeds",))
    return seeds


def _manifold(value: Any, fail) -> ManifoldSpec:
    spec = {"name": value} if isinstance(value, str) else value
    if not isinstance(spec, dict) or "name" not in spec:
        raise fail(
            "manifold must be a name (euclidean, poincare) or {name: ..., ...}", ("manifold",)
        )
    name = spec["name"]
    if name not in MANIFOLDS:
        raise fail(
            f"unknown manifold {name!r}{closest(str(name), sorted(MANIFOLDS))}; known: "
            f"{', '.join(sorted(MANIFOLDS))}",
            ("manifold",),
        )
    params = {k: v for k, v in spec.items() if k != "name"}
    config = _validate(MANIFOLDS[name].Config, params, ("manifold",), fail)
    return ManifoldSpec(name=name, params=config)


def _distribution(value: Any, side: str, manifold: str, fail) -> DistributionSpec:
    path = (side,)
    if not isinstance(value, dict):
        raise fail("expected a mapping such as {dataset: two_moons} or {file: samples.npy}", path)
    given = [k for k in ("dataset", "file") if value.get(k) is not None]
    if len(given) != 1:
        raise fail("give exactly one of 'dataset' (a name) or 'file' (a .npy or .csv path)", path)
    n_samples = value.get("n_samples")
    params = {k: v for k, v in value.items() if k not in ("dataset", "file", "n_samples")}
    if given == ["file"]:
        if params:
            key = next(iter(params))
            raise fail(
                "unknown key for a file distribution (allowed: file, n_samples)", (*path, key)
            )
        return _validate(
            DistributionSpec, {"file": value["file"], "n_samples": n_samples}, path, fail
        )
    try:
        dataset = get_dataset(str(value["dataset"]))
    except ValueError as error:
        raise fail(str(error), (*path, "dataset")) from None
    if manifold not in dataset.manifolds:
        raise fail(
            f"dataset {dataset.name!r} lives on {', '.join(sorted(dataset.manifolds))}, "
            f"not on {manifold!r}; choose a dataset for {manifold}",
            (*path, "dataset"),
        )
    config = _validate(dataset.Config, params, path, fail)
    return _validate(
        DistributionSpec,
        {"dataset": dataset.name, "n_samples": n_samples, "params": config},
        path,
        fail,
    )


def _methods(value: Any, manifold: str, keep: list[str] | None, fail) -> list[MethodSpec]:
    if not isinstance(value, list) or not value:
        raise fail("methods must be a non-empty list, e.g. [{method: swd, lr: 0.01}]", ("methods",))
    specs, labels = [], set()
    for index, entry in enumerate(value):
        path = ("methods", index)
        if isinstance(entry, str):
            entry = {"method": entry}
        if not isinstance(entry, dict) or "method" not in entry:
            raise fail("each method needs a 'method' key, e.g. {method: swd}", path)
        name, label = str(entry["method"]), str(entry.get("label", entry["method"]))
        try:
            cls = get_flow(name, manifold)
        except ValueError as error:
            raise fail(str(error), (*path, "method")) from None
        if label in labels:
            raise fail(f"label {label!r} is used twice; give each entry its own label", path)
        labels.add(label)
        params = {k: v for k, v in entry.items() if k not in ("method", "label")}
        specs.append(
            MethodSpec(method=name, label=label, params=_validate(cls.Config, params, path, fail))
        )
    if keep:
        unknown = [k for k in keep if k not in labels]
        if unknown:
            raise fail(
                f"--methods {unknown[0]!r} is not a label of this scenario"
                f"{closest(unknown[0], sorted(labels))}; labels: {', '.join(sorted(labels))}"
            )
        specs = [s for s in specs if s.label in keep]
    return specs


def _validate(model: type[BaseModel], params: dict, path: tuple, fail):
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise _from_pydantic(error, path, fail, model) from None


def _from_pydantic(error: ValidationError, path: tuple, fail, model=None) -> ScenarioError:
    first = error.errors()[0]
    loc = tuple(first["loc"])
    full = (*path, *loc)
    if first["type"] == "extra_forbidden":
        allowed = sorted(model.model_fields) if model is not None else []
        hint = closest(str(loc[-1]), allowed) if allowed else ""
        listing = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return fail(f"unknown key{hint}{listing}", full)
    if first["type"] == "missing":
        return fail("required key is missing; add it", full)
    message = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = f" (got {value!r})" if not isinstance(value, (dict, list)) else ""
    return fail(f"{message}{shown}", full)


def _line_map(node, path=(), out=None) -> dict[tuple, int]:
    """Path of every YAML node -> its 1-based line, for error messages."""
    out = {} if out is None else out
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _line_map(child, (*path, key.value), out)
            out[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _line_map(child, (*path, index), out)
    return out


def _nearest_line(lines: dict[tuple, int], path: tuple) -> int | None:
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path) if path else None
