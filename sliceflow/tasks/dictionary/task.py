"""Wasserstein dictionary learning (``task: dictionary``; Schmitz et al. 2018).

Data histograms ``d_i`` on a regular grid are reconstructed as entropic Wasserstein barycentres of
K learned atoms, ``b_i = bary(A, lambda_i)``; atoms and weights are learned by Adam through softmax
parametrisations. Each seed draws its own data (synthetic sets) and its own initial atoms. The
trace holds the reconstruction loss; the run directory also holds the atoms and reconstructions at
the snapshot steps (particles.npz) and the learned weights (weights.csv).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from sliceflow.datasets import DatasetConfig, Stream
from sliceflow.datasets.histograms import (
    HistogramData,
    check_histograms,
    get_histograms,
    grid_coordinates,
    read_histograms,
)
from sliceflow.errors import ScenarioError
from sliceflow.ot.policy import is_tiny
from sliceflow.rundir import TraceSchema
from sliceflow.scenario.models import ScenarioBase, SnapshotSettings, Strict
from sliceflow.tasks import register_task
from sliceflow.tasks.base import Task
from sliceflow.tasks.dictionary.learner import METHODS, DictionaryStepper, get_method


class HistogramSource(Strict):
    """``data:`` a histogram dataset by name with its parameters, or a file of histograms."""

    dataset: str | None = None
    file: str | None = None
    params: DatasetConfig = DatasetConfig()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dataset": self.dataset} if self.dataset else {"file": self.file}
        return data | self.params.model_dump()


class GridSettings(Strict):
    """The grid the histograms live on: ``shape`` (default: the data's own) and ``size``, the
    length the longest axis spans (bin centres ``i * size / (max(shape) - 1)``)."""

    shape: list[int] | None = Field(None, min_length=1)
    size: float = Field(1.0, gt=0)


class DictionaryTrace(Strict):
    every: int = Field(1, gt=0, description="record the loss every k epochs (and the last)")


class DictionaryScenario(ScenarioBase):
    """A dictionary-learning scenario: histograms, their grid, and the learners (methods)."""

    data: HistogramSource
    grid: GridSettings = GridSettings()
    dtype: Literal["float32", "float64"] = "float64"
    shown: int = Field(12, gt=0, description="data drawn next to their reconstructions")
    trace: DictionaryTrace = DictionaryTrace()
    snapshots: SnapshotSettings = SnapshotSettings()

    def snapshot_steps(self) -> list[int]:
        return self.snapshots.select(self.steps)

    def to_dict(self) -> dict[str, Any]:
        base = super().to_dict()
        data = {key: base[key] for key in ("name", "description", "task", "steps", "seeds")}
        return data | {
            "data": self.data.to_dict(),
            "grid": self.grid.model_dump(),
            "dtype": self.dtype,
            "shown": self.shown,
            "methods": base["methods"],
            "trace": self.trace.model_dump(),
            "snapshots": self.snapshots.model_dump(exclude_none=True),
            "output": base["output"],
        }


def resolve_dictionary_scenario(data: dict, parser, keep: list[str] | None) -> dict:
    """The dictionary keys: ``data`` (a histogram dataset or a file) and the learners."""
    if "data" in data:
        data["data"] = _histogram_source(parser, data["data"])
    data["methods"] = parser.methods(data.get("methods"), get_method, keep)
    return data


def _histogram_source(parser, value: Any) -> HistogramSource:
    path = ("data",)
    if not isinstance(value, dict):
        raise parser.fail("expected a mapping such as {dataset: digits} or {file: data.npy}", path)
    given = [k for k in ("dataset", "file") if value.get(k) is not None]
    if len(given) != 1:
        raise parser.fail("give exactly one of 'dataset' (a name) or 'file' (.npy or .csv)", path)
    params = {k: v for k, v in value.items() if k not in ("dataset", "file")}
    if given == ["file"]:
        if params:
            raise parser.fail("unknown key for a file (allowed: file)", (*path, next(iter(params))))
        if not isinstance(value["file"], str):
            raise parser.fail("file must be a path (a string)", (*path, "file"))
        return HistogramSource(file=value["file"])
    try:
        dataset = get_histograms(str(value["dataset"]))
    except ValueError as error:
        raise parser.fail(str(error), (*path, "dataset")) from None
    config = parser.validate(dataset.Config, params, path)
    return HistogramSource(dataset=dataset.name, params=config)


@register_task("dictionary")
class DictionaryLearning(Task):
    """Wasserstein dictionary learning: histograms as entropic barycentres of learned atoms."""

    Scenario = DictionaryScenario
    schema = TraceSchema(("loss", "l2"), "loss", "reconstruction loss")
    tables = {"weights.csv": ("method", "seed", "step", "datum", "atom", "weight")}
    resolve_scenario = staticmethod(resolve_dictionary_scenario)

    @classmethod
    def catalogue(cls) -> list[tuple[str, str]]:
        return [(name, method.summary) for name, method in sorted(METHODS.items())]

    def __init__(self, scenario: DictionaryScenario, device: torch.device) -> None:
        super().__init__(scenario, device)
        self.dtype = getattr(torch, scenario.dtype)
        made = [self._load(seed) for seed in scenario.seeds]
        if len({m.data.shape for m in made}) != 1:
            raise self._fail("the data's shape differs between seeds")
        self.grid_shape = self._grid_shape(made[0])
        self.grid = grid_coordinates(self.grid_shape, scenario.grid.size)  # (n, d)
        self.data = torch.from_numpy(
            np.stack([m.data / m.data.sum(1, keepdims=True) for m in made])
        )
        self.data = self.data.to(device=device, dtype=self.dtype)  # (S, N, n)
        grid = torch.from_numpy(self.grid).to(device=device, dtype=self.dtype)
        self.cost = torch.cdist(grid, grid).square()  # (n, n) squared Euclidean
        if not self.cost.isfinite().all():
            raise self._fail(f"grid size {scenario.grid.size:g} makes the cost overflow; give a "
                             "size of order 1", ("grid", "size"))  # fmt: skip
        known = made[0].atoms is not None
        self.true_atoms = np.stack([m.atoms for m in made]) if known else None  # (S, K, n)
        self.true_weights = np.stack([m.weights for m in made]) if known else None
        self.n_atoms = max(m.params.n_atoms for m in scenario.methods)

    def _fail(self, message: str, path=("data",)) -> ScenarioError:
        return ScenarioError(message, source=self.scenario.name, path=path)

    def _load(self, seed: int) -> HistogramData:
        source = self.scenario.data
        if source.dataset is not None:
            try:
                return get_histograms(source.dataset).make(source.params, Stream(seed, "target"))
            except ValueError as error:
                raise self._fail(str(error)) from None
        path = Path(self.scenario.base_dir) / source.file
        if not path.is_file():
            raise self._fail(f"file {str(path)!r} not found; check the path (relative to the "
                             "scenario)")  # fmt: skip
        try:
            array = read_histograms(path)
        except (ValueError, OSError) as error:
            raise self._fail(f"cannot read {str(path)!r}: {error}") from None
        shape = tuple(array.shape[1:]) if array.ndim > 2 else (array.shape[-1],)
        data = array.reshape(len(array), -1) if array.ndim > 2 else array
        try:
            check_histograms(data, repr(str(path)))
        except ValueError as error:
            raise self._fail(str(error)) from None
        return HistogramData(data, shape)

    def _grid_shape(self, made: HistogramData) -> tuple[int, ...]:
        shape = self.scenario.grid.shape
        if shape is None:
            return tuple(made.grid_shape)
        n = made.data.shape[1]
        if any(s < 1 for s in shape) or int(np.prod(shape)) != n:
            raise self._fail(
                f"grid shape {list(shape)} has {int(np.prod(shape))} bins but the data have {n} "
                f"per histogram; give a shape whose product is {n} (or omit it)",
                ("grid", "shape"),
            )
        return tuple(shape)

    def build_stepper(self, spec) -> DictionaryStepper:
        return METHODS[spec.method](spec, self)

    def n_shown(self) -> int:
        return min(self.scenario.shown, self.data.shape[1])

    def snapshot_shape(self) -> tuple[tuple[int, ...], np.dtype]:
        """Atoms (padded with NaN to the largest K) then the first reconstructions, per seed."""
        S, _, n = self.data.shape
        return (S, self.n_atoms + self.n_shown(), n), np.dtype(np.float64)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"data": self.data.double().cpu().numpy(), "grid": self.grid}
        if self.true_atoms is not None:
            arrays |= {"true_atoms": self.true_atoms, "true_weights": self.true_weights}
        return arrays

    def run_info(self) -> dict[str, Any]:
        return {
            "grid_shape": list(self.grid_shape),
            "n_data": int(self.data.shape[1]),
            "n_shown": self.n_shown(),
            "n_atoms": {m.label: m.params.n_atoms for m in self.scenario.methods},
        }

    def small(self) -> bool:
        """A step's products, ``N n K`` numbers (up to the digits' size), are tiny for the size
        policy."""
        _, N, n = self.data.shape
        return is_tiny(N * n * self.n_atoms, "dictionary")
