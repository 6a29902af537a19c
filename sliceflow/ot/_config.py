"""Settings of the maths' solvers: one pydantic model per solver, reused by every adapter.

A flow, plan method or coupling that runs a solver takes its config as a base (beside the task's
own settings, e.g. a flow's ``lr``), so a parameter has one name and one meaning everywhere.
Where a task's paper uses other values, the task states them as data with :func:`with_defaults`.
"""

from __future__ import annotations

import sys
from copy import copy
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

Model = TypeVar("Model", bound=BaseModel)


class SolverConfig(BaseModel):
    """Base of the solvers' settings: unknown keys are rejected, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def with_defaults(name: str, bases: tuple[type[Model], ...], **defaults: Any) -> type[Model]:
    """The configs ``bases`` combined into the model ``name``, with other default values.

    Every field keeps its type, bounds and description; only the defaults named change, e.g.
    ``with_defaults("MinSWGGBallConfig", (MinSWGGConfig, FlowConfig), n_projections=100)``.
    The model belongs to the caller's module, under ``name`` (so it pickles by reference).
    """
    fields = {}
    for key, value in defaults.items():
        owner = next((b for b in bases if key in b.model_fields), None)
        if owner is None:
            raise TypeError(f"with_defaults: no field {key!r} in {[b.__name__ for b in bases]}")
        info = copy(owner.model_fields[key])
        info.default = value
        fields[key] = (info.annotation, info)
    module = sys._getframe(1).f_globals["__name__"]
    return create_model(name, __base__=bases, __module__=module, **fields)
