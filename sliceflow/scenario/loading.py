"""Scenario files: YAML loading, overrides and precise one-line errors.

A scenario is plain YAML (see the README, "Scenario format"). Its ``task`` (default ``flow``)
names the kind of run and the model its keys must fit; unknown keys are rejected everywhere, and
dataset, manifold and method parameters are validated by their own ``Config``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sliceflow.datasets import get_dataset
from sliceflow.errors import ScenarioError, closest
from sliceflow.manifolds import MANIFOLDS
from sliceflow.scenario.models import (
    DistributionSpec,
    ManifoldSpec,
    MethodSpec,
    WeightedTargetSpec,
)

MAX_SEEDS = 100_000


def load_scenario(path: str | Path, **changes: Any):
    """Read, override and validate a scenario file; ``ScenarioError`` (one line) on bad input.

    ``changes``: ``overrides`` ({"methods.swd.lr": 0.1}), ``seeds``, ``steps``, ``methods``.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise ScenarioError(f"file not found{hint}; check the path", source=source)
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
        lines = _line_map(yaml.compose(text))
    except UnicodeDecodeError:
        raise ScenarioError("not a UTF-8 text file; give a YAML scenario", source=source) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(
            f"YAML syntax error: {problem}; fix the YAML", source=source, line=line
        ) from None
    return build_scenario(raw, source=source, lines=lines, base_dir=path.parent, **changes)


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
):
    """Validate a scenario given as a dict (what ``load_scenario`` does after parsing YAML)."""
    from sliceflow.tasks import get_task

    parser = Parser(source, lines or {})
    if not isinstance(raw, dict):
        raise parser.fail("a scenario must be a mapping of keys (name, steps, methods, ...)")
    raw = copy.deepcopy(raw)
    for key, value in (overrides or {}).items():
        _apply_override(raw, key, value, parser.fail)
    if seeds is not None:
        raw["seeds"] = seeds
    if steps is not None:
        raw["steps"] = steps
    try:
        task = get_task(raw.get("task", "flow"))
    except ValueError as error:
        raise parser.fail(str(error), ("task",)) from None
    allowed = sorted(set(task.Scenario.model_fields) - {"base_dir"})
    for key in raw:
        if key not in allowed:
            raise parser.fail(
                f"unknown key{_other_task(str(key), task.name) or closest(str(key), allowed)}; "
                f"allowed keys (task {task.name}): {', '.join(allowed)}",
                (key,),
            )
    data = dict(raw)
    data["seeds"] = parser.seeds(raw.get("seeds", 10))
    data = task.resolve_scenario(data, parser, methods)
    data["base_dir"] = str(base_dir)
    return parser.validate(task.Scenario, data, ())


def _other_task(key: str, current: str) -> str:
    """`` (a key of task plan: set task: plan)`` when ``key`` belongs to another kind of run."""
    from sliceflow.tasks import TASKS

    owners = sorted(n for n, t in TASKS.items() if n != current and key in t.Scenario.model_fields)
    return f" (a key of task {owners[0]}: set task: {owners[0]})" if owners else ""


def resolve_flow_scenario(data: dict, parser: Parser, keep: list[str] | None) -> dict:
    """The particle-flow keys: manifold, source and target, methods from the flow registry."""
    manifold = parser.manifold(data.get("manifold", "euclidean"))
    data["manifold"] = manifold
    for side in ("source", "target"):
        if side in data:
            data[side] = parser.distribution(data[side], side, manifold.name)
    if "targets" in data:
        data["targets"] = parser.weighted_targets(data["targets"], manifold.name)
    data["methods"] = parser.methods(data.get("methods"), partial(_flow, manifold.name), keep)
    return data


def _flow(manifold: str, name: str):
    from sliceflow.flows import get_flow, known_flows
    from sliceflow.tasks.plan.methods import PLAN_METHODS

    if name in PLAN_METHODS and name not in known_flows():
        raise ValueError(
            f"{name!r} is a plan method (task plan), not a flow; set task: plan or use one of "
            f"the flows: {', '.join(known_flows())}"
        )
    return get_flow(name, manifold)


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


class Parser:
    """Validation helpers bound to one scenario's source and line map: one-line errors."""

    def __init__(self, source: str, lines: dict[tuple, int]) -> None:
        self.source, self.lines = source, lines

    def fail(self, message: str, path=()) -> ScenarioError:
        return ScenarioError(
            message, source=self.source, path=path, line=_nearest_line(self.lines, path)
        )

    def validate(self, model: type[BaseModel], params: Any, path: tuple):
        """``model.model_validate(params)`` with the first problem as a ScenarioError."""
        if not isinstance(params, dict):
            raise self.fail(f"expected a mapping of keys, got {_shown(params)}", path)
        try:
            return model.model_validate(params)
        except ValidationError as error:
            raise self._from_pydantic(error, path, model) from None

    def seeds(self, value: Any) -> list[int]:
        if isinstance(value, bool) or not isinstance(value, (int, list)):
            raise self.fail(
                "seeds must be a count (e.g. 10) or a list of seeds (e.g. [0, 3])", ("seeds",)
            )
        if isinstance(value, int) and not 0 < value <= MAX_SEEDS:
            raise self.fail(f"seeds must be a count from 1 to {MAX_SEEDS}", ("seeds",))
        seeds = list(range(value)) if isinstance(value, int) else value
        valid = all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        if not seeds or not valid or len(seeds) > MAX_SEEDS:
            raise self.fail("seeds must be a positive count or a list of integers >= 0", ("seeds",))
        if len(set(seeds)) != len(seeds):
            raise self.fail("seeds must not repeat", ("seeds",))
        return seeds

    def manifold(self, value: Any) -> ManifoldSpec:
        spec = {"name": value} if isinstance(value, str) else value
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise self.fail(
                "manifold must be a name (euclidean, poincare) or {name: ..., ...}", ("manifold",)
            )
        name = spec["name"]
        if name not in MANIFOLDS:
            known = sorted(MANIFOLDS)
            raise self.fail(
                f"unknown manifold {name!r}{closest(name, known)}; known: {', '.join(known)}",
                ("manifold",),
            )
        params = {k: v for k, v in spec.items() if k != "name"}
        config = self.validate(MANIFOLDS[name].Config, params, ("manifold",))
        return ManifoldSpec(name=name, params=config)

    def distribution(
        self, value: Any, side: str, manifold: str | None, path: tuple | None = None
    ) -> DistributionSpec:
        """``{dataset: NAME, ...params}`` or ``{file: PATH}``, with ``n_samples``."""
        path = path or (side,)
        if not isinstance(value, dict):
            raise self.fail(
                "expected a mapping such as {dataset: two_moons} or {file: samples.npy}", path
            )
        given = [k for k in ("dataset", "file") if value.get(k) is not None]
        if len(given) != 1:
            raise self.fail(
                "give exactly one of 'dataset' (a name) or 'file' (a .npy or .csv path)", path
            )
        n_samples = value.get("n_samples")
        params = {k: v for k, v in value.items() if k not in ("dataset", "file", "n_samples")}
        if given == ["file"]:
            if params:
                raise self.fail(
                    "unknown key for a file distribution (allowed: file, n_samples)",
                    (*path, next(iter(params))),
                )
            if not isinstance(value["file"], str):
                raise self.fail("file must be a path (a string)", (*path, "file"))
            spec = {"file": value["file"], "n_samples": n_samples}
            return self.validate(DistributionSpec, spec, path)
        try:
            dataset = get_dataset(str(value["dataset"]))
        except ValueError as error:
            raise self.fail(str(error), (*path, "dataset")) from None
        if manifold is not None and manifold not in dataset.manifolds:
            raise self.fail(
                f"dataset {dataset.name!r} lives on {', '.join(sorted(dataset.manifolds))}, "
                f"not on {manifold!r}; choose a dataset for {manifold}",
                (*path, "dataset"),
            )
        config = self.validate(dataset.Config, params, path)
        spec = {"dataset": dataset.name, "n_samples": n_samples, "params": config}
        return self.validate(DistributionSpec, spec, path)

    def weighted_targets(self, value: Any, manifold: str | None) -> list[WeightedTargetSpec]:
        """``targets:`` a list of ``{dataset: NAME or file: PATH, weight: w, ...}``."""
        if not isinstance(value, list) or not value:
            raise self.fail(
                "targets must be a non-empty list such as [{dataset: circle, weight: 0.5}, "
                "{dataset: two_moons, weight: 0.5}]",
                ("targets",),
            )
        specs = []
        for index, entry in enumerate(value):
            path = ("targets", index)
            if not isinstance(entry, dict) or "weight" not in entry:
                raise self.fail("each target needs a weight, e.g. {dataset: circle, weight: 1}",
                                path)  # fmt: skip
            rest = {k: v for k, v in entry.items() if k != "weight"}
            found = self.distribution(rest, "targets", manifold, path)
            fields = {"dataset": found.dataset, "file": found.file, "n_samples": found.n_samples,
                      "params": found.params, "weight": entry["weight"]}  # fmt: skip
            specs.append(self.validate(WeightedTargetSpec, fields, path))
        return specs

    def methods(
        self, value: Any, lookup: Callable[[str], type], keep: list[str] | None = None
    ) -> list[MethodSpec]:
        """Entries ``{method: NAME, label: ..., **params}``; ``lookup(name)`` gives the class
        whose ``Config`` validates the parameters (``ValueError`` for an unknown name)."""
        if not isinstance(value, list) or not value:
            raise self.fail(
                "methods must be a non-empty list, e.g. [{method: swd, lr: 0.01}]", ("methods",)
            )
        specs, labels = [], set()
        for index, entry in enumerate(value):
            path = ("methods", index)
            entry = {"method": entry} if isinstance(entry, str) else entry
            if not isinstance(entry, dict) or not isinstance(entry.get("method"), str):
                raise self.fail("each method needs a 'method' name, e.g. {method: swd}", path)
            name, label = entry["method"], entry.get("label", default_label(entry["method"]))
            if not isinstance(label, str) or not label:
                raise self.fail("label must be a non-empty string", (*path, "label"))
            try:
                cls = lookup(name)
            except ValueError as error:
                raise self.fail(str(error), (*path, "method")) from None
            if label in labels:
                raise self.fail(
                    f"label {label!r} is used twice; give each entry its own label", path
                )
            labels.add(label)
            params = {k: v for k, v in entry.items() if k not in ("method", "label")}
            config = self.validate(cls.Config, params, path)
            specs.append(MethodSpec(method=name, label=label, params=config))
        if keep:
            unknown = [k for k in keep if k not in labels]
            if unknown:
                raise self.fail(
                    f"--methods {unknown[0]!r} is not a label of this scenario"
                    f"{closest(unknown[0], sorted(labels))}; labels: {', '.join(sorted(labels))}"
                )
            specs = [s for s in specs if s.label in keep]
        return specs

    def _from_pydantic(self, error: ValidationError, path: tuple, model) -> ScenarioError:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        full = (*path, *loc)
        if first["type"] == "extra_forbidden":
            owner = _submodel(model, loc[:-1])
            allowed = sorted(owner.model_fields) if owner is not None else []
            hint = closest(str(loc[-1]), allowed) if allowed else ""
            listing = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            return self.fail(f"unknown key{hint}{listing}", full)
        if first["type"] == "missing":
            return self.fail("required key is missing; add it", full)
        message = first["msg"].removeprefix("Value error, ")
        value = first.get("input")
        shown = f" (got {_shown(value)})" if not isinstance(value, (dict, list)) else ""
        return self.fail(f"{message}{shown}", full)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _submodel(model, loc: tuple):
    """The pydantic model that owns the field at ``loc`` (for the list of allowed keys)."""
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


def _apply_override(raw: dict, key: str, value: Any, fail) -> None:
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


def _line_map(node, path=(), out=None) -> dict[tuple, int]:
    """Path of every YAML node -> its 1-based line, for error messages."""
    out = {} if out is None else out
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
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
