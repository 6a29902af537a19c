"""Scenario files: YAML loading, overrides and precise one-line errors.

A scenario is plain YAML (see the README, "Scenario format"). Its ``task`` (default ``flow``)
names the kind of run, found in the task registry; the task's ``Scenario`` model lists the keys
it accepts (unknown keys are rejected everywhere) and its ``resolve_scenario`` validates its own
keys with a :class:`~sliceflow.scenario.parser.Parser` (dataset, manifold and method parameters
by their own ``Config``). Nothing here knows a task by name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from sliceflow.errors import ScenarioError, closest
from sliceflow.scenario.overrides import apply_override
from sliceflow.scenario.parser import Parser
from sliceflow.yaml_safe import YAMLInputError, load_yaml, read_yaml_text


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
        raw, lines = load_yaml(read_yaml_text(path))
    except UnicodeDecodeError:
        raise ScenarioError("not a UTF-8 text file; give a YAML scenario", source=source) from None
    except OSError as error:
        raise ScenarioError(
            f"cannot read it ({error.strerror or error}); check the file's permissions",
            source=source,
        ) from None
    except YAMLInputError as error:
        raise ScenarioError(
            error.problem, source=source, path=error.path, line=error.line
        ) from None
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
        apply_override(raw, key, value, parser.fail)
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


__all__ = ["build_scenario", "load_scenario"]
