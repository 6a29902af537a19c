"""Seed shards merged into one run folder equal, bit for bit, to the unsharded run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sliceflow
from sliceflow.engine.shards import is_complete, merge_shards, seed_chunks
from sliceflow.flows import FLOWS, FlowConfig, register
from sliceflow.flows.base import Flow
from sliceflow.scenario import build_scenario
from sliceflow.tasks import get_task
from tests.engine.sweep_helpers import assert_same_run
from tests.helpers import small_scenario


def test_seed_chunks_cover_the_seeds_in_order_without_empty_chunks():
    assert seed_chunks([3, 5, 7, 9, 11], 3) == [[3, 5], [7], [9, 11]]
    assert seed_chunks([0, 1], 5) == [[0], [1]]
    assert seed_chunks(list(range(10)), 1) == [list(range(10))]
    chunks = seed_chunks(list(range(1000)), 7)
    assert sum(chunks, []) == list(range(1000)) and {len(c) for c in chunks} == {142, 143}


def whole_and_merged(raw: dict, tmp_path, shards: int):
    """Run ``raw`` whole (tmp_path/whole) and in seed shards merged into tmp_path/merged; assert
    the two folders hold the same numbers; return the scenario."""
    scenario = build_scenario(raw)
    sliceflow.run(scenario, out=tmp_path / "whole", render=False)
    shard_dirs = []
    for index, chunk in enumerate(seed_chunks(scenario.seeds, shards)):
        shard_dirs.append(tmp_path / f"shard{index}")
        sliceflow.run({**raw, "seeds": chunk}, out=shard_dirs[-1], render=False)
    merge_shards(scenario, shard_dirs, tmp_path / "merged", "cpu")
    assert_same_run(tmp_path / "whole", tmp_path / "merged")
    return scenario


class _Config(FlowConfig):
    pass


@pytest.fixture
def glitchy_flow():
    """Seed 3's particles turn NaN from its fourth loss on: its divergence must survive a merge."""

    @register("_glitchy")
    class Glitchy(Flow):
        Config = _Config

        def loss(self, x, y):
            self.calls = getattr(self, "calls", 0) + 1
            value = (x - y).square().mean(dim=(1, 2))
            if self.calls > 3:
                nan = [float("nan") if seed == 3 else 1.0 for seed in self.context.seeds]
                value = value * torch.tensor(nan, dtype=x.dtype)
            return value

    yield "_glitchy"
    del FLOWS["_glitchy"]


def test_merged_shards_equal_the_unsharded_run_bit_for_bit(tmp_path, glitchy_flow):
    methods = [
        {"method": "swd", "lr": 1.0, "n_projections": 10},
        {"method": "max_sw", "lr": 1.0, "inner_steps": 3},
        {"method": "dgswp", "lr": 0.5, "projection": "mlp", "hidden": 8, "inner_steps": 2},
        {"method": "min_swgg", "lr": 1.0},
        {"method": "la_sw", "lr": 1.0},
        {"method": glitchy_flow, "lr": 0.1},
    ]
    raw = small_scenario(steps=9, seeds=[0, 2, 3, 5, 8], n_particles=16, methods=methods,
                         trace={"every": 2}, snapshots={"every": 3})  # fmt: skip
    scenario = whole_and_merged(raw, tmp_path, shards=3)
    assert is_complete(tmp_path / "merged", scenario)
    merged = sliceflow.run(scenario, out=tmp_path / "merged", render=False, resume=True)
    assert merged.info["diverged_at_step"][glitchy_flow] == [-1, -1, 4, -1, -1]
    assert np.isinf(merged.w2sq(glitchy_flow)[2, -1])
    assert_same_run(tmp_path / "whole", tmp_path / "merged")  # --resume of it changed nothing


def test_a_run_of_another_scenario_is_not_complete(tmp_path):
    scenario = build_scenario(small_scenario(steps=3))
    sliceflow.run(scenario, out=tmp_path / "run", render=False)
    assert is_complete(tmp_path / "run", scenario)
    assert not is_complete(tmp_path / "run", build_scenario(small_scenario(steps=4)))
    assert not is_complete(tmp_path / "elsewhere", scenario)


def _barycentre_flow() -> dict:
    targets = [{"dataset": "two_moons", "weight": 3.0}, {"dataset": "circle", "weight": 1.0}]
    methods = [{"method": "swd", "lr": 1.0, "n_projections": 10},
               {"method": "sinkhorn", "lr": 1.0, "blur": 0.3, "max_iter": 5}]  # fmt: skip
    raw = small_scenario(steps=6, seeds=4, n_particles=16, methods=methods, targets=targets)
    del raw["target"]
    return raw


def _plan() -> dict:
    return small_scenario("plan", seeds=4, steps=6, n_points=32, snapshots={"every": 3})


def _dictionary() -> dict:
    return small_scenario("dictionary", seeds=4, steps=6, snapshots={"every": 3})


def _flow_matching() -> dict:
    return small_scenario("flow_matching", seeds=4, steps=10, snapshots={"steps": [0, 5, 10]})


TASKS = {"barycentre_flow": _barycentre_flow, "plan": _plan, "dictionary": _dictionary,
         "flow_matching": _flow_matching}  # fmt: skip


@pytest.mark.parametrize("make", TASKS.values(), ids=TASKS.keys())
def test_every_task_merges_its_shards_into_the_unsharded_run(tmp_path, make):
    scenario = whole_and_merged(make(), tmp_path, shards=2)
    for table in get_task(scenario.task).tables:
        whole = (tmp_path / "whole" / table).read_text()
        assert (tmp_path / "merged" / table).read_text() == whole, table
    assert is_complete(tmp_path / "merged", scenario)
