"""Pydantic models of a scenario file (loading and error messages live in ``scenario.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sliceflow.datasets import DatasetConfig
from sliceflow.flows import FlowConfig
from sliceflow.manifolds import MANIFOLDS, ManifoldConfig

DTYPES = ("float32", "float64")


class ScenarioError(ValueError):
    """A user error in a scenario: ``str()`` is one line naming the file, the field and the fix."""

    def __init__(self, message: str, *, source: str = "<scenario>", path=(), line=None) -> None:
        self.source, self.path, self.line, self.message = source, tuple(path), line, message
        where = source + (f":{line}" if line else "")
        field = _format_path(self.path)
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")

    @classmethod
    def verbatim(cls, text: str) -> ScenarioError:
        """An error whose one-line message is ``text`` as given (e.g. from a worker process)."""
        error = cls(text)
        error.args = (text,)
        return error

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


def _format_path(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ManifoldSpec(_Strict):
    name: str = "euclidean"
    params: ManifoldConfig = ManifoldConfig()


class DistributionSpec(_Strict):
    dataset: str | None = None
    file: str | None = None
    n_samples: int | None = Field(None, gt=0)
    params: DatasetConfig = DatasetConfig()


class MethodSpec(_Strict):
    method: str
    label: str
    params: FlowConfig


class TraceSettings(_Strict):
    every: int = Field(1, gt=0, description="exact W2^2 every k steps (and at the last step)")
    solver: Literal["auto", "pot"] = "auto"


class SnapshotSettings(_Strict):
    count: int | None = Field(None, gt=1, description="evenly spaced snapshots incl. 0 and last")
    every: int | None = Field(None, gt=0)
    steps: list[int] | None = None

    @model_validator(mode="after")
    def _one_rule(self):
        if sum(v is not None for v in (self.count, self.every, self.steps)) > 1:
            raise ValueError("give one of count, every or steps")
        return self


class OutputSettings(_Strict):
    dir: str | None = None
    gif: bool = True
    gif_seed: int = Field(0, ge=0, description="index into the run's seeds")
    gif_frames: int = Field(60, gt=1)
    gif_fps: float = Field(12.0, gt=0)
    gif_size_px: int = Field(480, ge=64)
    format: Literal["png", "pdf"] = "png"
    threshold: float = -1.0
    log_time: bool = False


class Scenario(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    manifold: ManifoldSpec = ManifoldSpec()
    dtype: Literal["float32", "float64"] | None = None
    n_particles: int = Field(gt=0)
    steps: int = Field(ge=0)
    seeds: list[int]
    dim: int | None = Field(None, gt=0)
    source: DistributionSpec
    target: DistributionSpec
    methods: list[MethodSpec] = Field(min_length=1)
    trace: TraceSettings = TraceSettings()
    snapshots: SnapshotSettings = SnapshotSettings()
    output: OutputSettings = OutputSettings()
    base_dir: str = Field(".", exclude=True)

    @model_validator(mode="after")
    def _gif_seed_in_range(self):
        if self.output.gif_seed >= len(self.seeds):
            raise ValueError(
                f"output.gif_seed {self.output.gif_seed} is an index into seeds and there are "
                f"{len(self.seeds)}; use 0..{len(self.seeds) - 1}"
            )
        return self

    def snapshot_steps(self) -> list[int]:
        """Sorted snapshot steps, always including 0 and the last step."""
        rule, last = self.snapshots, self.steps
        if rule.steps is not None:
            chosen = [s for s in rule.steps if 0 <= s <= last]
        elif rule.every is not None:
            chosen = list(range(0, last + 1, rule.every))
        else:
            count = min(rule.count or 61, last + 1)
            chosen = [round(i * last / max(count - 1, 1)) for i in range(count)]
        return sorted(set(chosen) | {0, last})

    def torch_dtype(self):
        import torch

        if self.dtype is not None:
            return getattr(torch, self.dtype)
        return MANIFOLDS[self.manifold.name].default_dtype

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain YAML-able data (parameters with their defaults)."""
        data = {
            "name": self.name,
            "description": self.description,
            "manifold": {"name": self.manifold.name, **self.manifold.params.model_dump()},
            "dtype": str(self.torch_dtype()).removeprefix("torch."),
            "n_particles": self.n_particles,
            "steps": self.steps,
            "seeds": list(self.seeds),
            "dim": self.dim,
            "source": _distribution_dict(self.source),
            "target": _distribution_dict(self.target),
            "methods": [
                {"method": m.method, "label": m.label, **m.params.model_dump()}
                for m in self.methods
            ],
            "trace": self.trace.model_dump(),
            "snapshots": self.snapshots.model_dump(exclude_none=True),
            "output": self.output.model_dump(),
        }
        return data


def _distribution_dict(spec: DistributionSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"dataset": spec.dataset} if spec.dataset else {"file": spec.file}
    if spec.n_samples is not None:
        data["n_samples"] = spec.n_samples
    data.update(spec.params.model_dump())
    return data
