"""The scenario parser: validation helpers that turn every problem into one line naming the
file, the line, the field and the fix (``file:line: field: problem; fix``).

A task's ``resolve_scenario`` receives a :class:`Parser` bound to the file being read and
validates its own keys with it: ``seeds``, ``manifold``, ``distribution`` (a dataset by name or a
file of samples), ``methods`` (entries looked up in the task's registry) and ``validate`` (any
pydantic model, its first problem as a :class:`~sliceflow.errors.ScenarioError`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from sliceflow.datasets import get_dataset
from sliceflow.errors import ScenarioError, closest
from sliceflow.manifolds import MANIFOLDS
from sliceflow.rundir.layout import file_label
from sliceflow.scenario.bounds import first_problem
from sliceflow.scenario.models import MAX_SEED, DistributionSpec, ManifoldSpec, MethodSpec
from sliceflow.scenario.overrides import default_label

MAX_SEEDS = 100_000


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
            validated = model.model_validate(params)
        except ValidationError as error:
            raise self._from_pydantic(error, path, model) from None
        found = first_problem(validated)
        if found is not None:
            raise self.fail(found[1], (*path, *found[0]))
        return validated

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
        for index, seed in enumerate(seeds):
            if seed > MAX_SEED:
                raise self.fail(
                    f"seed {_shown(seed)} is out of range; seeds are integers from 0 to "
                    f"{MAX_SEED} (2**63 - 1)",
                    ("seeds", index) if isinstance(value, list) else ("seeds",),
                )
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
        try:
            manifold = MANIFOLDS.lookup(name)
        except ValueError as error:
            raise self.fail(str(error), ("manifold",)) from None
        params = {k: v for k, v in spec.items() if k != "name"}
        config = self.validate(manifold.Config, params, ("manifold",))
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

    def methods(
        self, value: Any, lookup: Callable[[str], type], keep: list[str] | None = None
    ) -> list[MethodSpec]:
        """Entries ``{method: NAME, label: ..., **params}``; ``lookup(name)`` gives the class
        whose ``Config`` validates the parameters (``ValueError`` for an unknown name)."""
        if not isinstance(value, list) or not value:
            raise self.fail(
                "methods must be a non-empty list, e.g. [{method: swd, lr: 0.01}]", ("methods",)
            )
        specs, labels, files = [], set(), {}
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
            self._check_label(label, files, (*path, "label"))
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

    def _check_label(self, label: str, files: dict[str, str], path: tuple) -> None:
        """A label names the method's files and is chosen by ``--methods a,b``: no comma, no
        edge spaces or control characters, and no two labels sharing a file name (``a/b`` and
        ``a_b`` both give ``flow_a_b.gif``; ``SWD`` and ``swd`` do on a case-blind disk)."""
        problem = (
            "holds a comma, which --methods a,b reads as two labels" if "," in label
            else "starts or ends with a space, which --methods drops" if label != label.strip()
            else "holds a control character (a tab, a line break)" if not label.isprintable()
            else None
        )  # fmt: skip
        if problem:
            raise self.fail(f"label {label!r} {problem}; rename it (e.g. swd_fast)", path)
        name = file_label(label)
        other = files.setdefault(name.casefold(), label)
        if other != label:
            same = file_label(other) == name
            raise self.fail(
                f"labels {other!r} and {label!r} "
                + (f"both become {name!r} in file names (e.g. flow_{name}.gif)" if same else
                   "give file names that differ only in case, one file on macOS and Windows")
                + "; give labels that differ in letters, digits, '_', '.' or '-'",
                path,
            )  # fmt: skip

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
        if first["type"] == "finite_number":
            return self.fail(f"must be a finite number, not {first.get('input')}; give a finite "
                             "value", full)  # fmt: skip
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


def _nearest_line(lines: dict[tuple, int], path: tuple) -> int | None:
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path) if path else None
