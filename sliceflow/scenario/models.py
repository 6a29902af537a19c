"""Pydantic models of a scenario file: the keys every kind of run shares (``ScenarioBase``) and
the parts tasks build theirs from (distributions, manifold, methods, trace, snapshots).

Each task's own model lives with the task (``sliceflow.tasks.<name>.scenario``). Loading,
overrides and line-numbered errors live in :mod:`sliceflow.scenario.loading`; the samples of a
distribution in :mod:`sliceflow.scenario.clouds`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sliceflow.datasets import DatasetConfig
from sliceflow.manifolds import ManifoldConfig
from sliceflow.rundir import OutputSettings
from sliceflow.scenario.bounds import int_limit


class Strict(BaseModel):
    """Unknown keys rejected, values frozen, floats finite (no ``.inf``, no ``.nan``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ManifoldSpec(Strict):
    name: str = "euclidean"
    params: ManifoldConfig = ManifoldConfig()


MAX_POINTS = 10_000_000  # particles or samples per seed
MAX_DIM = 100_000
MAX_STEPS = 100_000_000
MAX_SNAPSHOTS = 100_000
MAX_NAME = 128  # characters of a scenario name (a folder name; file systems allow 255 bytes)
MAX_SEED = 2**63 - 1  # torch's manual_seed takes < 2**64; run folders keep seeds as int64


class DistributionSpec(Strict):
    dataset: str | None = None
    file: str | None = None
    n_samples: int | None = Field(None, gt=0, le=MAX_POINTS)
    params: DatasetConfig = DatasetConfig()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dataset": self.dataset} if self.dataset else {"file": self.file}
        if self.n_samples is not None:
            data["n_samples"] = self.n_samples
        data.update(self.params.model_dump())
        return data


class MethodSpec(Strict):
    """One entry of ``methods``: a registered name, the label of its outputs, its parameters."""

    method: str
    label: str
    params: BaseModel

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "label": self.label, **self.params.model_dump()}


TRACE_ESTIMATORS = ("exact", "subsample", "sliced", "kmeans", "sinkhorn")
TraceEstimator = Literal[TRACE_ESTIMATORS]
SUBSAMPLE_SIZE = 1000  # trace.size of the subsample estimator when not given


class TraceSettings(Strict):
    """The ``trace:`` section: when and how the distance to the target is measured."""

    every: int = Field(1, gt=0, description="trace every k steps (and at the last step)")
    solver: Literal["auto", "pot", "assignment"] = "auto"
    estimator: TraceEstimator | list[TraceEstimator] = Field(
        "exact", description="one estimator, or a list (the first is the summarised one)"
    )
    size: int | None = Field(None, gt=0, description="subsample (default 1000), sinkhorn: points")
    n_projections: int = Field(1000, gt=0, description="sliced: fixed directions")
    clusters: int = Field(3000, gt=1, description="kmeans: palette size")
    blur: float = Field(0.05, gt=0, description="sinkhorn: blur")

    @model_validator(mode="after")
    def _distinct(self):
        if isinstance(self.estimator, list) and (
            not self.estimator or len(set(self.estimator)) != len(self.estimator)
        ):
            raise ValueError(
                f"estimator: give one of {', '.join(TRACE_ESTIMATORS)}, or a list of distinct ones"
            )
        return self

    @property
    def estimators(self) -> list[str]:
        return [self.estimator] if isinstance(self.estimator, str) else list(self.estimator)

    def to_dict(self) -> dict[str, Any]:
        """The keys that matter for the chosen estimators (every default written out)."""
        names = self.estimators
        data: dict[str, Any] = {"every": self.every, "solver": self.solver,
                                "estimator": self.estimator}  # fmt: skip
        if self.size is not None and {"subsample", "sinkhorn"} & set(names):
            data["size"] = self.size
        elif "subsample" in names:
            data["size"] = SUBSAMPLE_SIZE
        for key, user in (
            ("n_projections", "sliced"),
            ("clusters", "kmeans"),
            ("blur", "sinkhorn"),
        ):
            if user in names:
                data[key] = getattr(self, key)
        return data


class SnapshotSettings(Strict):
    count: int | None = Field(
        None, gt=1, le=MAX_SNAPSHOTS, description="evenly spaced snapshots incl. 0 and last"
    )
    every: int | None = Field(None, gt=0)
    steps: list[int] | None = None
    max_points: int = Field(5000, gt=0, description="particles kept per seed and snapshot")

    @model_validator(mode="after")
    def _one_rule(self):
        if sum(v is not None for v in (self.count, self.every, self.steps)) > 1:
            raise ValueError("give one of count, every or steps")
        return self

    def select(self, last: int) -> list[int]:
        """Sorted snapshot steps of a run of ``last`` steps, always including 0 and ``last``."""
        if self.every is not None and last // self.every > MAX_SNAPSHOTS:
            raise ValueError(
                f"snapshots.every {self.every} gives more than {MAX_SNAPSHOTS} snapshots of "
                f"{last} steps; take a larger every or a count"
            )
        if self.steps is not None:
            chosen = [s for s in self.steps if 0 <= s <= last]
        elif self.every is not None:
            chosen = list(range(0, last + 1, self.every))
        else:
            count = min(self.count or 61, last + 1)
            chosen = [round(i * last / max(count - 1, 1)) for i in range(count)]
        return sorted(set(chosen) | {0, last})


class ScenarioBase(Strict):
    """What every kind of run has: a name, seeds, a number of steps, methods and outputs."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", max_length=MAX_NAME)
    description: str = ""
    task: str = "flow"
    steps: int = Field(ge=0, le=MAX_STEPS)
    seeds: list[int] = Field(json_schema_extra=int_limit(MAX_SEED))
    methods: list[MethodSpec] = Field(min_length=1)
    output: OutputSettings = OutputSettings()
    base_dir: str = Field(".", exclude=True)

    @field_validator("name")
    @classmethod
    def _name_is_a_folder(cls, name: str) -> str:
        if name.startswith("."):  # ".", ".." and hidden names: runs/<name> must be a new folder
            raise ValueError(
                f"name {name!r} starts with a dot, so runs/<name> would be the current folder, "
                "its parent or a hidden folder; start it with a letter or a digit"
            )
        return name

    @model_validator(mode="after")
    def _gif_seed_in_range(self):
        if self.output.gif_seed >= len(self.seeds):
            raise ValueError(
                f"output.gif_seed {self.output.gif_seed} is an index into seeds and there are "
                f"{len(self.seeds)}; use 0..{len(self.seeds) - 1}"
            )
        return self

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.methods]

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain YAML-able data (parameters with their defaults)."""
        return {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "steps": self.steps,
            "seeds": list(self.seeds),
            "methods": [m.to_dict() for m in self.methods],
            "output": self.output.model_dump(),
        }


__all__ = [
    "DistributionSpec",
    "ManifoldSpec",
    "MethodSpec",
    "ScenarioBase",
    "SnapshotSettings",
    "Strict",
    "TRACE_ESTIMATORS",
    "TraceSettings",
]
