"""The engine: traces, determinism, batching, divergence, interruption and resume."""

from __future__ import annotations

import csv

import numpy as np
import ot
import pytest
import torch

import sliceflow
from sliceflow.engine import RunInterrupted
from sliceflow.flows import FLOWS, register
from sliceflow.flows.base import Flow
from tests.helpers import small_scenario


def _run(tmp_path, name="run", **changes):
    return sliceflow.run(small_scenario(**changes), out=tmp_path / name, render=False)


def test_traced_w2sq_equals_a_direct_emd2(tmp_path):
    result = _run(tmp_path, steps=5)
    data = np.load(tmp_path / "run" / "particles.npz")
    final = data["swd"][-1]  # (S, n, d) at the last step
    for i in range(len(result.scenario.seeds)):
        x, y = final[i].astype(np.float64), data["target"][i].astype(np.float64)
        direct = ot.emd2([], [], ot.dist(x, y))
        assert result.w2sq("swd")[i, -1] == pytest.approx(direct, rel=1e-9)


def test_swd_lowers_the_median_w2_on_two_moons_tenfold(tmp_path):
    # lr 1.0 for 150 steps (the paper's lr 0.01 needs the full 2000 steps and more).
    result = _run(tmp_path, steps=150)
    w2 = np.median(result.w2sq("swd"), axis=0)
    assert w2[-1] < w2[0] / 10


def test_same_scenario_gives_bit_identical_traces(tmp_path):
    methods = [{"method": "swd", "lr": 1.0}, {"method": "max_sw", "lr": 1.0, "inner_steps": 5}]
    first = _run(tmp_path, "a", steps=20, methods=methods)
    second = _run(tmp_path, "b", steps=20, methods=methods)
    for label in ("swd", "max_sw"):
        assert np.array_equal(first.w2sq(label), second.w2sq(label))
        assert np.array_equal(first.loss(label), second.loss(label))


def test_a_seed_gives_the_same_trace_alone_or_in_a_batch(tmp_path):
    methods = [{"method": "swd", "lr": 1.0}, {"method": "max_sw", "lr": 1.0, "inner_steps": 5}]
    batch = _run(tmp_path, "batch", steps=20, seeds=[0, 1, 2, 3], methods=methods)
    alone = _run(tmp_path, "alone", steps=20, seeds=[2], methods=methods)
    for label in ("swd", "max_sw"):
        assert np.array_equal(batch.w2sq(label)[2], alone.w2sq(label)[0])
        assert np.array_equal(batch.loss(label)[2], alone.loss(label)[0])


def test_output_files_have_the_documented_columns_and_shapes(tmp_path):
    _run(tmp_path, steps=10, trace={"every": 3}, snapshots={"steps": [0, 5, 10]})
    out = tmp_path / "run"
    with open(out / "trace.csv") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["method", "seed", "step", "loss", "w2sq", "elapsed_s"]
    assert sorted({int(r[2]) for r in rows[1:]}) == [0, 3, 6, 9, 10]
    with open(out / "summary.csv") as stream:
        header = next(csv.reader(stream))
    assert header == ["method", "step", "n_seeds", "n_diverged", "q25", "median", "q75"]
    data = np.load(out / "particles.npz")
    assert list(data["steps"]) == [0, 5, 10]
    assert data["swd"].shape == (3, 3, 50, 2)
    assert data["target"].shape == (3, 50, 2)


class _ExplodingConfig(sliceflow.flows.FlowConfig):
    pass


@pytest.fixture
def exploding_flow():
    """A flow whose second seed produces NaN particles from step 3 on."""

    @register("_exploding")
    class Exploding(Flow):
        Config = _ExplodingConfig

        def loss(self, x, y):
            value = (x - y).square().mean(dim=(1, 2))
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls > 3:
                value = value * torch.tensor([1.0, float("nan"), 1.0], dtype=x.dtype)
            return value

    yield "_exploding"
    del FLOWS["_exploding"]


def test_a_diverged_seed_is_counted_and_the_others_finish(tmp_path, exploding_flow):
    result = _run(tmp_path, steps=8, methods=[{"method": exploding_flow, "lr": 0.1}])
    w2 = result.w2sq(exploding_flow)
    assert np.isinf(w2[1, 4:]).all() and np.isfinite(w2[1, :4]).all()
    assert np.isfinite(w2[[0, 2]]).all()
    last = [row for row in result.summary() if row[1] == 8][0]
    assert last[2:4] == (3, 1)  # n_seeds, n_diverged
    assert result.info["diverged_at_step"][exploding_flow] == [-1, 4, -1]


def test_interrupted_run_keeps_files_and_resume_is_bit_identical(tmp_path):
    methods = [{"method": "max_sw", "lr": 1.0, "inner_steps": 3}, {"method": "swd", "lr": 1.0}]
    scenario = small_scenario(steps=30, methods=methods, snapshots={"every": 10})
    full = sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if label == "max_sw" and step == 17:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as caught:
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, on_progress=stop)
    assert caught.value.result.completed_steps == {"max_sw": 17}
    with open(tmp_path / "cut" / "trace.csv") as stream:
        assert sum(1 for _ in stream) == 1 + 3 * 18  # steps 0..17 of 3 seeds were kept
    resumed = sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True)
    for label in ("max_sw", "swd"):
        assert np.array_equal(resumed.w2sq(label), full.w2sq(label))
        assert np.array_equal(resumed.loss(label), full.loss(label))


def test_resume_refuses_a_different_scenario(tmp_path):
    _run(tmp_path, steps=5)
    with pytest.raises(sliceflow.UserError, match="different scenario"):
        sliceflow.run(small_scenario(steps=6), out=tmp_path / "run", render=False, resume=True)


def test_methods_in_parallel_processes_give_the_same_numbers(tmp_path):
    methods = [
        {"method": "swd", "lr": 1.0},
        {"method": "max_sw", "lr": 1.0, "inner_steps": 3},
        {"method": "dgswp", "lr": 0.5, "projection": "mlp", "hidden": 16, "inner_steps": 3},
    ]
    scenario = small_scenario(steps=20, methods=methods, snapshots={"every": 5})
    alone = sliceflow.run(scenario, out=tmp_path / "one", render=False)
    together = sliceflow.run(scenario, out=tmp_path / "two", render=False, jobs=2)
    for label in ("swd", "max_sw", "dgswp"):
        assert np.array_equal(alone.w2sq(label), together.w2sq(label))
        assert np.array_equal(alone.loss(label), together.loss(label))
        assert np.array_equal(alone.particles[label], together.particles[label])
    assert (tmp_path / "two" / "trace.csv").read_text().count("\n") == 1 + 3 * 3 * 21


def test_a_worker_error_is_reported_as_a_user_error(tmp_path):
    # min-SWGG needs as many particles as target samples: the worker's refusal comes back
    # as the same one-line ScenarioError a sequential run gives.
    scenario = small_scenario(
        steps=3, target={"dataset": "two_moons", "n_samples": 40},
        methods=[{"method": "swd"}, {"method": "min_swgg"}],
    )  # fmt: skip
    with pytest.raises(sliceflow.scenario.ScenarioError) as sequential:
        sliceflow.run(scenario, out=tmp_path / "a", render=False)
    with pytest.raises(sliceflow.scenario.ScenarioError) as parallel:
        sliceflow.run(scenario, out=tmp_path / "b", render=False, jobs=2)
    assert str(parallel.value) == str(sequential.value)


def test_an_interrupted_parallel_run_resumes_to_the_same_numbers(tmp_path):
    methods = [{"method": "max_sw", "lr": 1.0, "inner_steps": 3}, {"method": "swd", "lr": 1.0}]
    scenario = small_scenario(steps=400, methods=methods, snapshots={"every": 50})
    full = sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if step >= 200:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as caught:
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, jobs=2, on_progress=stop)
    assert min(caught.value.result.completed_steps.values()) < 400
    resumed = sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True, jobs=2)
    for label in ("max_sw", "swd"):
        assert np.array_equal(resumed.w2sq(label), full.w2sq(label))
        assert np.array_equal(resumed.loss(label), full.loss(label))


def test_identical_runs_write_identical_files_apart_from_timings(tmp_path):
    """Rows come in a fixed order (step, method order, seed), whatever order the parallel
    workers finish in."""
    methods = [{"method": "max_sw", "lr": 1.0, "inner_steps": 4}, {"method": "swd", "lr": 1.0}]
    scenario = small_scenario(steps=12, methods=methods)
    texts = []
    for name in ("first", "second"):
        sliceflow.run(scenario, out=tmp_path / name, render=False, jobs=2)
        lines = (tmp_path / name / "trace.csv").read_text().splitlines()
        texts.append([line.rsplit(",", 1)[0] for line in lines])  # drop elapsed_s
        assert [row.split(",")[2] for row in lines[1:]] == sorted(
            (row.split(",")[2] for row in lines[1:]), key=int
        )
    assert texts[0] == texts[1]
    summaries = [(tmp_path / n / "summary.csv").read_text() for n in ("first", "second")]
    assert summaries[0] == summaries[1]
