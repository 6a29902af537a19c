"""Bounds every number of a scenario obeys, whichever model holds it.

A float is finite (``.inf`` or ``.nan`` as a learning rate, a weight or a threshold would run
and report numbers that mean nothing). An integer is at most :data:`INT_LIMIT` in size unless
its field states its own bound (``le``/``lt``, or :func:`int_limit` for a list of integers such
as ``seeds``): a count of 10^30 projections would pass validation and fail deep in the maths.
The :class:`~sliceflow.scenario.parser.Parser` applies :func:`first_problem` to every model it
validates, so the datasets', manifolds' and methods' configs need no rule of their own.
"""

from __future__ import annotations

import math
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

INT_LIMIT = 2**31 - 1  # what every count, size and index of a scenario fits in


def int_limit(limit: int) -> dict[str, int]:
    """``Field(json_schema_extra=int_limit(n))``: this field's integers may reach ``n``."""
    return {"int_limit": limit}


def first_problem(value: Any, path: tuple = (), limit: float = INT_LIMIT) -> tuple | None:
    """The first number of ``value`` (a validated model, walked field by field) out of bounds.

    Parameters
    ----------
    value : a pydantic model, or what its fields hold (numbers, lists, tuples, dicts).
    path : the key path of ``value`` in the scenario.
    limit : the largest integer (in size) allowed here.

    Returns
    -------
    ``(path, problem)`` with ``problem`` one line naming the fix; None if all are in bounds.
    """
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            found = first_problem(getattr(value, name), (*path, name), _field_limit(field))
            if found is not None:
                return found
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"must be a finite number, not {value}; give a finite value"
    if isinstance(value, int) and abs(value) > limit:
        shown = str(value) if len(str(value)) <= 24 else f"a number of {len(str(value))} digits"
        return path, f"{shown} is larger than {limit}, the most allowed here; give a smaller one"
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = first_problem(item, (*path, index), limit)
            if found is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            found = first_problem(item, (*path, key), limit)
            if found is not None:
                return found
    return None


def _field_limit(field: FieldInfo) -> float:
    """The integer bound of a field: its own ``int_limit``, none beyond its own ``le``/``lt``
    (pydantic checks those), else :data:`INT_LIMIT`."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "int_limit" in extra:
        return extra["int_limit"]
    if any(isinstance(m, (annotated_types.Le, annotated_types.Lt)) for m in field.metadata):
        return math.inf
    return INT_LIMIT


__all__ = ["INT_LIMIT", "first_problem", "int_limit"]
