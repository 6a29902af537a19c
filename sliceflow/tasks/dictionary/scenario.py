"""The scenario of a dictionary-learning run (``task: dictionary``): its keys, defaults, rules.

Histograms on a regular grid (``data:`` a histogram dataset by name or a file), the grid's shape
and size, and the learners (``methods``, e.g. ``wdl``) with their numbers of atoms.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sliceflow.datasets import DatasetConfig
from sliceflow.datasets.histograms import get_histograms
from sliceflow.scenario.models import ScenarioBase, SnapshotSettings, Strict
from sliceflow.tasks.dictionary.learner import get_method


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


__all__ = ["DictionaryScenario", "GridSettings", "HistogramSource", "resolve_dictionary_scenario"]
