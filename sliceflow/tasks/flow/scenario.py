"""The scenario of a particle flow (``task: flow``, the default): its keys, defaults and rules.

Sources flow toward one target (``target:``) or toward the weighted barycentre of several
(``targets:``), on a manifold; the methods are flows (:data:`sliceflow.flows.FLOWS`), each
validated for that manifold.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Literal

from pydantic import Field, model_validator

from sliceflow.manifolds import MANIFOLDS
from sliceflow.scenario.models import (
    MAX_DIM,
    MAX_POINTS,
    DistributionSpec,
    ManifoldSpec,
    ScenarioBase,
    SnapshotSettings,
    TraceSettings,
)
from sliceflow.scenario.parser import Parser

MAX_BYTES = 2**40  # 1 TiB: an allocation beyond any machine a scenario runs on


class WeightedTargetSpec(DistributionSpec):
    """One entry of ``targets:`` (a barycentre flow): a distribution and its weight."""

    weight: float = Field(gt=0, description="weight in sum_k w_k D(x, Y_k), normalised")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "weight": self.weight}


class FlowScenario(ScenarioBase):
    """A particle-flow scenario (``task: flow``, the default): sources flow toward targets."""

    manifold: ManifoldSpec = ManifoldSpec()
    dtype: Literal["float32", "float64"] | None = None
    n_particles: int = Field(gt=0, le=MAX_POINTS)
    dim: int | None = Field(None, gt=0, le=MAX_DIM)
    source: DistributionSpec
    target: DistributionSpec | None = None
    targets: list[WeightedTargetSpec] | None = Field(None, min_length=1)
    trace: TraceSettings = TraceSettings()
    snapshots: SnapshotSettings = SnapshotSettings()

    @model_validator(mode="after")
    def _snapshots_fit(self):
        self.snapshots.select(self.steps)  # raises when there would be too many
        return self

    @model_validator(mode="after")
    def _fits_a_machine(self):
        # lower bounds (a coordinate per point at least, 4 bytes each): what the run allocates
        # before its first step, the particles of all seeds and the kept snapshots per method
        S, n, d = len(self.seeds), self.n_particles, self.dim or 1
        kept = len(self.methods) * len(self.snapshot_steps()) * min(n, self.snapshots.max_points)
        for what, count, fix in (
            ("the particles of all seeds", S * n * d, "fewer seeds or particles"),
            ("the snapshots of all methods", S * kept * d, "fewer snapshots (snapshots.count) "
             "or snapshots.max_points"),
        ):  # fmt: skip
            if 4 * count > MAX_BYTES:
                raise ValueError(
                    f"{what} need at least {4 * count / 2**40:.0f} TiB of memory, more than "
                    f"any machine holds; use {fix}"
                )
        return self

    @model_validator(mode="after")
    def _one_target_key(self):
        if (self.target is None) == (self.targets is None):
            raise ValueError(
                "give either target (one distribution) or targets (a list of {dataset or file, "
                "weight} for a barycentre flow)"
            )
        return self

    def target_weights(self) -> list[float] | None:
        """The weights of ``targets`` normalised to sum 1 (None for a single target)."""
        if self.targets is None:
            return None
        weights = [t.weight for t in self.targets]
        total = sum(weights)
        if not math.isfinite(total):  # 1e308 + 1e308: scale by the largest first (exact)
            weights = [w / max(weights) for w in weights]
            total = sum(weights)
        return [w / total for w in weights]

    def snapshot_steps(self) -> list[int]:
        return self.snapshots.select(self.steps)

    def torch_dtype(self):
        import torch

        if self.dtype is not None:
            return getattr(torch, self.dtype)
        return MANIFOLDS[self.manifold.name].default_dtype

    def to_dict(self) -> dict[str, Any]:
        base = super().to_dict()
        data = {key: base[key] for key in ("name", "description", "task")}
        data |= {
            "manifold": {"name": self.manifold.name, **self.manifold.params.model_dump()},
            "dtype": str(self.torch_dtype()).removeprefix("torch."),
            "n_particles": self.n_particles,
            "steps": self.steps,
            "seeds": list(self.seeds),
            "dim": self.dim,
            "source": self.source.to_dict(),
            **({"target": self.target.to_dict()} if self.target is not None else {}),
            **({"targets": [t.to_dict() for t in self.targets]} if self.targets else {}),
            "methods": base["methods"],
            "trace": self.trace.to_dict(),
            "snapshots": self.snapshots.model_dump(exclude_none=True),
            "output": base["output"],
        }
        return data


def resolve_flow_scenario(data: dict, parser: Parser, keep: list[str] | None) -> dict:
    """The particle-flow keys: manifold, source and target, methods from the flow registry."""
    manifold = parser.manifold(data.get("manifold", "euclidean"))
    data["manifold"] = manifold
    for side in ("source", "target"):
        if side in data:
            data[side] = parser.distribution(data[side], side, manifold.name)
    if "targets" in data:
        data["targets"] = weighted_targets(parser, data["targets"], manifold.name)
    data["methods"] = parser.methods(data.get("methods"), partial(_flow, manifold.name), keep)
    return data


def weighted_targets(parser: Parser, value: Any, manifold: str | None) -> list[WeightedTargetSpec]:
    """``targets:`` a list of ``{dataset: NAME or file: PATH, weight: w, ...}``."""
    if not isinstance(value, list) or not value:
        raise parser.fail(
            "targets must be a non-empty list such as [{dataset: circle, weight: 0.5}, "
            "{dataset: two_moons, weight: 0.5}]",
            ("targets",),
        )
    specs = []
    for index, entry in enumerate(value):
        path = ("targets", index)
        if not isinstance(entry, dict) or "weight" not in entry:
            raise parser.fail("each target needs a weight, e.g. {dataset: circle, weight: 1}",
                              path)  # fmt: skip
        rest = {k: v for k, v in entry.items() if k != "weight"}
        found = parser.distribution(rest, "targets", manifold, path)
        fields = {"dataset": found.dataset, "file": found.file, "n_samples": found.n_samples,
                  "params": found.params, "weight": entry["weight"]}  # fmt: skip
        specs.append(parser.validate(WeightedTargetSpec, fields, path))
    return specs


def _flow(manifold: str, name: str):
    """The flow class of a ``methods`` entry on ``manifold``; a plan method named in a flow
    scenario gets a hint toward ``task: plan``."""
    from sliceflow.flows import get_flow, known_flows
    from sliceflow.tasks.plan.methods import PLAN_METHODS

    if name in PLAN_METHODS and name not in known_flows():
        raise ValueError(
            f"{name!r} is a plan method (task plan), not a flow; set task: plan or use one of "
            f"the flows: {', '.join(known_flows())}"
        )
    return get_flow(name, manifold)


__all__ = ["FlowScenario", "WeightedTargetSpec", "resolve_flow_scenario", "weighted_targets"]
