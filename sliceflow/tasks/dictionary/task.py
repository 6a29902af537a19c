"""Wasserstein dictionary learning (``task: dictionary``; Schmitz et al. 2018).

Data histograms ``d_i`` on a regular grid are reconstructed as entropic Wasserstein barycentres of
K learned atoms, ``b_i = bary(A, lambda_i)``; atoms and weights are learned by Adam through softmax
parametrisations. Each seed draws its own data (synthetic sets) and its own initial atoms. The
trace holds the reconstruction loss; the run directory also holds the atoms and reconstructions at
the snapshot steps (particles.npz) and the learned weights (weights.csv).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sliceflow.datasets import Stream
from sliceflow.datasets.files import describe
from sliceflow.datasets.histograms import (
    HISTOGRAMS,
    HistogramData,
    check_histograms,
    get_histograms,
    grid_coordinates,
    read_histograms,
)
from sliceflow.errors import ScenarioError
from sliceflow.ot.policy import is_tiny
from sliceflow.rundir import TraceSchema
from sliceflow.tasks import register_task
from sliceflow.tasks.base import Task
from sliceflow.tasks.dictionary.learner import METHODS, DictionaryStepper
from sliceflow.tasks.dictionary.scenario import DictionaryScenario, resolve_dictionary_scenario


@register_task("dictionary")
class DictionaryLearning(Task):
    """Wasserstein dictionary learning: histograms as entropic barycentres of learned atoms."""

    Scenario = DictionaryScenario
    schema = TraceSchema(("loss", "l2"), "loss", "reconstruction loss")
    tables = {"weights.csv": ("method", "seed", "step", "datum", "atom", "weight")}
    resolve_scenario = staticmethod(resolve_dictionary_scenario)

    @classmethod
    def catalogue(cls) -> list[tuple[str, Mapping[str, Any]]]:
        return [("methods", METHODS), ("histogram datasets", HISTOGRAMS)]

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
        name = describe(source.file, path)
        try:
            array = read_histograms(path, name)
            images = array.ndim > 2 and array.size > 0  # (N, h, w): one histogram per image
            shape = tuple(array.shape[1:]) if images else tuple(array.shape[-1:])
            data = array.reshape(len(array), -1) if images else array
            check_histograms(data, name)
        except ValueError as error:  # the file, the histogram or line, the fix
            raise self._fail(str(error), ("data", "file")) from None
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
