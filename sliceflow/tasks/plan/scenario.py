"""The scenario of a plan run (``task: plan``): its keys, defaults and rules.

Fixed source and target clouds of ``n_points`` each (Euclidean), plan methods
(:data:`sliceflow.tasks.plan.methods.PLAN_METHODS`), a number of iterations; ``data_seed`` draws
the same clouds for every seed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sliceflow.scenario.models import (
    MAX_SEED,
    DistributionSpec,
    ScenarioBase,
    SnapshotSettings,
    Strict,
)
from sliceflow.tasks.plan.methods import PLAN_METHODS, get_plan_method

MAX_POINTS = 20_000  # the exact W2^2 needs an n x n cost matrix (3.2 GB at this size)


class PlanTraceSettings(Strict):
    every: int = Field(1, gt=0, description="plan costs every k steps (and at the last step)")


class PlanScenario(ScenarioBase):
    """A plan scenario (``task: plan``): fixed clouds, plan methods, a number of iterations."""

    task: str = "plan"
    n_points: int = Field(gt=0, le=MAX_POINTS, description="points per cloud (both sides)")
    dim: int | None = Field(None, gt=0)
    dtype: Literal["float32", "float64"] = "float32"
    source: DistributionSpec
    target: DistributionSpec
    data_seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="the same clouds for every seed"
    )
    trace: PlanTraceSettings = PlanTraceSettings()
    snapshots: SnapshotSettings = SnapshotSettings()

    @model_validator(mode="after")
    def _equal_sizes(self):
        sizes = {side: spec.n_samples or self.n_points for side, spec in
                 (("source", self.source), ("target", self.target))}  # fmt: skip
        if sizes["source"] != sizes["target"]:
            raise ValueError(
                f"a permutation plan needs as many source as target points (source "
                f"{sizes['source']}, target {sizes['target']}); give both the same n_samples"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        base = super().to_dict()
        data = {key: base[key] for key in ("name", "description", "task")}
        data |= {
            "n_points": self.n_points,
            "dim": self.dim,
            "dtype": self.dtype,
            "steps": self.steps,
            "seeds": list(self.seeds),
            "data_seed": self.data_seed,
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "methods": base["methods"],
            "trace": self.trace.model_dump(),
            "snapshots": self.snapshots.model_dump(exclude_none=True),
            "output": base["output"],
        }
        return data


def resolve_plan_scenario(data: dict, parser, keep: list[str] | None) -> dict:
    """The plan keys: Euclidean source and target, methods from the plan-method registry."""
    for side in ("source", "target"):
        if side in data:
            data[side] = parser.distribution(data[side], side, "euclidean")
    data["methods"] = parser.methods(data.get("methods"), _plan_method, keep)
    return data


def _plan_method(name: str):
    """The plan method class of a ``methods`` entry; a flow named in a plan scenario gets a hint."""
    from sliceflow.flows import known_flows

    if name not in PLAN_METHODS and name in known_flows():
        raise ValueError(
            f"{name!r} is a flow, not a plan method (task plan); plan methods: "
            f"{', '.join(sorted(PLAN_METHODS))}"
        )
    return get_plan_method(name)


__all__ = ["PlanScenario", "PlanTraceSettings", "resolve_plan_scenario"]
