"""The scenario of a flow-matching run (``task: flow_matching``): its keys, defaults and rules."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sliceflow.scenario.models import (
    DistributionSpec,
    MethodSpec,
    ScenarioBase,
    SnapshotSettings,
    Strict,
    TraceSettings,
)

DEFAULT_TARGET_SAMPLES = 20_000  # target draws of a generator dataset without n_samples


class NetworkSettings(Strict):
    """The velocity MLP (torchcfm's ``models.MLP``: SELU, time as an extra input)."""

    width: int = Field(64, gt=0, description="units per hidden layer")
    depth: int = Field(3, gt=0, description="hidden layers")


class EvaluationSettings(Strict):
    """How a trained network is scored on held-out target samples (at the last step)."""

    n_samples: int = Field(1000, gt=1, description="held-out target samples = generated samples")
    euler_steps: list[int] = Field([1, 2, 5, 10, 100], min_length=1)
    dopri5: bool = Field(True, description="also the adaptive Dormand-Prince solver")
    rtol: float = Field(1e-5, gt=0)
    atol: float = Field(1e-5, gt=0)
    show: int = Field(500, gt=0, description="samples kept for the figures and the GIF")
    image_shape: list[int] | None = Field(None, description="draw vectors as images (h, w)")

    @field_validator("euler_steps")
    @classmethod
    def _positive(cls, steps: list[int]) -> list[int]:
        if any(k < 1 for k in steps) or len(set(steps)) != len(steps):
            raise ValueError("euler_steps must be distinct step counts >= 1, e.g. [1, 2, 5]")
        return sorted(steps)

    @field_validator("image_shape")
    @classmethod
    def _shape(cls, shape: list[int] | None) -> list[int] | None:
        if shape is not None and (len(shape) != 2 or min(shape) < 1):
            raise ValueError("image_shape must be [height, width], e.g. [8, 8]")
        return shape


class FlowMatchingScenario(ScenarioBase):
    """Conditional flow matching from a source to a target distribution, one run per coupling."""

    dim: int | None = Field(None, gt=0)
    dtype: Literal["float32", "float64"] = "float32"
    source: DistributionSpec
    target: DistributionSpec
    network: NetworkSettings = NetworkSettings()
    batch_size: int = Field(256, gt=0)
    lr: float = Field(1e-3, gt=0, description="Adam learning rate of the velocity network")
    sigma: float = Field(
        0.0, ge=0, description="std of the Gaussian probability path (a coupling's sigma wins)"
    )
    evaluation: EvaluationSettings = EvaluationSettings()
    trace: TraceSettings = TraceSettings(every=10)
    snapshots: SnapshotSettings = SnapshotSettings(count=5)

    @model_validator(mode="after")
    def _source_is_a_distribution(self):
        if self.source.file is not None:
            raise ValueError(
                "source: flow matching draws fresh source samples every epoch; give a dataset "
                "(e.g. {dataset: gaussian, mean: 0.0, cov: 1.0}), not a file"
            )
        return self

    def path_sigma(self, spec: MethodSpec) -> float:
        """The path noise of one coupling: its own ``sigma`` key, else the scenario's."""
        own = getattr(spec.params, "sigma", None)
        return self.sigma if own is None else float(own)

    def snapshot_steps(self) -> list[int]:
        return self.snapshots.select(self.steps)

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def to_dict(self) -> dict[str, Any]:
        base = super().to_dict()
        return {
            **{key: base[key] for key in ("name", "description", "task", "steps", "seeds")},
            "dim": self.dim,
            "dtype": self.dtype,
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "network": self.network.model_dump(),
            "batch_size": self.batch_size,
            "lr": self.lr,
            "sigma": self.sigma,
            "methods": base["methods"],
            "evaluation": self.evaluation.model_dump(),
            "trace": self.trace.model_dump(),
            "snapshots": self.snapshots.model_dump(exclude_none=True),
            "output": base["output"],
        }


INSTALL = {  # torchcfm's own requirements pull a CUDA build of torch: install it without them
    "torchcfm": "pip install --no-deps torchcfm",
    "torchdiffeq": "pip install torchdiffeq",
}


def resolve_flow_matching_scenario(data: dict, parser, keep: list[str] | None) -> dict:
    """Source and target as datasets or files (Euclidean), methods from the coupling registry."""
    import importlib.util

    from sliceflow.tasks.flow_matching.couplings import get_coupling

    for module, command in INSTALL.items():
        if importlib.util.find_spec(module) is None:
            raise parser.fail(
                f"flow matching needs the package {module}, which is not installed; install "
                f"it with `{command}` (see the README, Flow matching)",
                ("task",),
            )

    for side in ("source", "target"):
        if side in data:
            data[side] = parser.distribution(data[side], side, "euclidean")
    data["methods"] = parser.methods(data.get("methods"), get_coupling, keep)
    return data
