"""Settings of the maths' solvers: one pydantic model per solver, reused by every adapter.

A flow, plan method or coupling that runs a solver validates its scenario entries with the
solver's config mixed with its own base config (which adds the task's keys, such as a flow's
particle ``lr``), so a parameter has one name, one meaning and one validation everywhere. Where
a task's paper uses other values, the task states them as data: :meth:`SolverConfig.with_defaults`.
"""

from __future__ import annotations

from copy import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model


class SolverConfig(BaseModel):
    """Base of the solvers' settings: unknown keys are rejected, values are frozen, floats are
    finite (an infinite or NaN step size, tolerance or regularisation means nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def with_defaults(
        cls,
        name: str,
        defaults: dict[str, Any],
        *,
        module: str,
        bases: tuple[type[BaseModel], ...] = (),
        doc: str | None = None,
        namespace: dict[str, Any] | None = None,
    ) -> type[SolverConfig]:
        """A subclass with the same fields, bounds and descriptions, and other defaults.

        Parameters
        ----------
        name : the new class's name; assign it to that name in ``module`` (pickling finds it).
        defaults : field name -> default (e.g. a paper's settings); existing fields only.
        module : the module that defines it (``__name__`` of the caller).
        bases : further bases after this class (e.g. a task's config: a flow's ``lr``).
        doc : the docstring (default: this class's).
        namespace : further class attributes (e.g. class variables a subclass reads).

        Returns
        -------
        The pydantic model class.
        """
        unknown = sorted(set(defaults) - set(cls.model_fields))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {unknown[0]!r}")
        fields: dict[str, Any] = {}
        for key, value in defaults.items():
            field = copy(cls.model_fields[key])
            field.default = value
            fields[key] = (field.annotation, field)
        return create_model(
            name, __base__=(cls, *bases), __module__=module, __doc__=doc or cls.__doc__,
            __namespace__=namespace or {}, **fields,
        )  # fmt: skip
