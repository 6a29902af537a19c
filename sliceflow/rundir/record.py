"""scenario.yaml as the reports read it back: every field they use, checked for its type.

The engine writes scenario.yaml (the scenario with its defaults, then a ``run:`` section of what
the run found); a damaged or edited copy gives one line naming the file, the field and the fix,
never a traceback deep in a figure. An absent field is fine (older runs lack some); a field
this module does not know is left alone (a plugin's task may record its own).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sliceflow.errors import RunDirError
from sliceflow.rundir.layout import KEY_COLUMNS, REWRITE, TraceSchema

# The bounds of a scenario file (sliceflow.scenario: steps, seeds, points), and of text.
MAX_STEPS = 100_000_000
MAX_SEEDS = 100_000
MAX_COUNT = 10_000_000
MAX_TEXT = 1000

# A check returns None when the value is fine, else what was expected, in words; a check of a
# list or a mapping whose item is wrong returns (the item's path suffix, its value, expected).
Problem = str | tuple[str, Any, str] | None
Check = Callable[[Any], Problem]

_SHOWN = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxlevel = 40, 40, 4, 4, 2


def shown(value: Any) -> str:
    """A short one-line form of a value read from a file (bounded, whatever its size)."""
    return _SHOWN.repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text(value: Any) -> Problem:
    """A line of text: no line break or other control character, at most MAX_TEXT long."""
    ok = isinstance(value, str) and len(value) <= MAX_TEXT and value.isprintable()
    return None if ok else "a line of text"


def whole(low: int, high: int) -> Check:
    def check(value: Any) -> Problem:
        return None if _is_int(value) and low <= value <= high else f"a whole number {low}..{high}"

    return check


def number(*, positive: bool = False, finite: bool = True) -> Check:
    def check(value: Any) -> str | None:
        ok = (_is_int(value) or isinstance(value, float)) and (
            not finite or math.isfinite(value)
        ) and (not positive or value > 0)  # fmt: skip
        return None if ok else ("a positive " if positive else "a ") + (
            "finite number" if finite else "number")  # fmt: skip

    return check


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def mapping(value: Any) -> str | None:
    return None if isinstance(value, dict) else "a mapping of keys"


def optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def either(*checks: Check) -> Check:
    def check(value: Any) -> Problem:
        problems = [c(value) for c in checks]
        if None in problems:
            return None
        inner = [p for p in problems if isinstance(p, tuple)]  # a list whose item is wrong
        return inner[0] if inner else " or ".join(dict.fromkeys(problems))

    return check


def _inner(suffix: str, value: Any, problem: Problem) -> Problem:
    """The problem of an item, its path suffix prefixed."""
    if problem is None or isinstance(problem, str):
        return None if problem is None else (suffix, value, problem)
    return (suffix + problem[0], problem[1], problem[2])


def list_of(item: Check, low: int = 0, high: int = MAX_COUNT) -> Check:
    def check(value: Any) -> Problem:
        if not isinstance(value, list) or not low <= len(value) <= high:
            return f"a list of {low}..{high} items"
        found = (_inner(f"[{i}]", v, item(v)) for i, v in enumerate(value))
        return next((p for p in found if p is not None), None)

    return check


def mapping_of(item: Check) -> Check:
    """A mapping of method labels (or other names) to values."""

    def check(value: Any) -> Problem:
        if not isinstance(value, dict):
            return "a mapping of names"
        if any(text(k) for k in value):
            return "a mapping whose keys are names"
        found = (_inner(f".{k}", v, item(v)) for k, v in value.items())
        return next((p for p in found if p is not None), None)

    return check


def column(value: Any) -> str | None:
    """A value column of trace.csv: text that is not a key column."""
    ok = text(value) is None and value not in (*KEY_COLUMNS, "elapsed_s", "")
    return None if ok else "a column name other than method, seed, step and elapsed_s"


def method_entry(value: Any) -> str | None:
    ok = isinstance(value, dict) and any(
        k in value and text(value[k]) is None for k in ("label", "method")
    )  # fmt: skip
    return None if ok else "a mapping with a label or a method name"


def manifold(value: Any) -> str | None:
    ok = text(value) is None or (isinstance(value, dict) and text(value.get("name")) is None)
    return None if ok else "a manifold name or a mapping with a name"


described = either(mapping, text)  # a distribution, shown in the report's scenario table
counts = list_of(whole(-1, MAX_STEPS), 0, MAX_SEEDS)  # per-seed counters of the engine
measured = list_of(number(finite=False), 0, MAX_SEEDS)  # per-seed values (NaN: diverged)

FIELDS: list[tuple[str, Check]] = [
    ("name", text), ("task", text), ("steps", whole(0, MAX_STEPS)),
    ("seeds", either(whole(1, MAX_SEEDS), list_of(whole(0, 2**63 - 1), 1, MAX_SEEDS))),
    ("n_particles", whole(1, MAX_COUNT)), ("n_points", whole(1, MAX_COUNT)),
    ("methods", list_of(method_entry, 0, MAX_COUNT)), ("trace", mapping),
    ("trace.every", whole(1, MAX_STEPS)), ("manifold", manifold), ("output", mapping),
    ("evaluation", mapping),
    ("evaluation.image_shape", optional(list_of(whole(1, MAX_COUNT), 2, 2))),
    ("source", described), ("target", described), ("data", described),
    ("targets", list_of(described)),
    ("run", mapping), ("run.task", text), ("run.manifold", text), ("run.device", text),
    ("run.started", text), ("run.wall_s", number()), ("run.interrupted", flag),
    ("run.trace", mapping), ("run.trace.values", list_of(column, 1, 1000)),
    ("run.trace.primary", column), ("run.trace.description", text),
    ("run.trace.secondary", list_of(list_of(text, 2, 2))),
    ("run.drawing", mapping), ("run.drawing.boundary_radius", optional(number(positive=True))),
    ("run.drawing.extent", optional(number(positive=True))), ("run.drawing.distance", text),
    ("run.completed_steps", mapping_of(whole(-1, MAX_STEPS))),
    ("run.elapsed_s", mapping_of(number())), ("run.ms_per_step", mapping_of(number())),
    ("run.nonfinite_particles", mapping_of(counts)), ("run.diverged_at_step", mapping_of(counts)),
    ("run.versions", mapping_of(text)), ("run.target_weights", list_of(number())),
    ("run.references", mapping), ("run.references.free_support_barycenter", measured),
    ("run.references.bures", mapping), ("run.references.bures.objective", measured),
    ("run.grid_shape", list_of(whole(1, MAX_COUNT), 1, 3)), ("run.n_data", whole(0, MAX_COUNT)),
    ("run.n_shown", whole(0, MAX_COUNT)), ("run.n_atoms", mapping_of(whole(1, MAX_COUNT))),
    ("run.frame_times", list_of(number(), 1, MAX_COUNT)),
    ("run.sampling_floor_w2sq", either(number(finite=False), measured)),
]  # fmt: skip


def _lookup(data: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """(found, value) of a dotted field; not found if a parent is absent or not a mapping."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_record(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``data`` (scenario.yaml as read) if every field the reports use has its type.

    Parameters
    ----------
    data : dict
        scenario.yaml as a mapping.
    path : Path
        The file, named in the error.

    Returns
    -------
    dict
        ``data``, unchanged.

    Raises
    ------
    RunDirError
        ``<path>: <field> is <value>, not <what>; <fix>`` for the first field that is wrong,
        in the order of ``FIELDS``, then the checks across fields.
    """
    for dotted, check in FIELDS:
        found, value = _lookup(data, dotted)
        problem = _inner("", value, check(value)) if found else None
        if problem is not None:
            suffix, value, expected = problem
            raise RunDirError(
                f"{path}: {dotted}{suffix} is {shown(value)}, not {expected}; {REWRITE}"
            )
    for dotted, problem in _across(data):
        raise RunDirError(f"{path}: {dotted} {problem}; {REWRITE}")
    return data


def _across(data: dict[str, Any]):
    """(field, problem) of what the types alone do not catch: repeats and references."""
    methods = data.get("methods") or []
    labels = [str(m.get("label") or m.get("method")) for m in methods]
    if len(set(labels)) != len(labels):
        yield "methods", f"repeat a label ({shown(labels)})"
    seeds = data.get("seeds")
    if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
        yield "seeds", "repeat a seed"
    trace = (data.get("run") or {}).get("trace") or {}
    values = trace.get("values") or list(TraceSchema.values)
    if len(set(values)) != len(values):
        yield "run.trace.values", f"repeat a column ({shown(values)})"
    if "primary" in trace and trace["primary"] not in values:
        yield "run.trace.primary", f"{shown(trace['primary'])} is not one of {shown(values)}"
    done = (data.get("run") or {}).get("completed_steps") or {}
    steps = data.get("steps")
    late = [label for label, step in done.items() if steps is not None and step > steps]
    if late:
        yield f"run.completed_steps.{late[0]}", f"is {done[late[0]]}, more than steps ({steps})"
