"""What every stepper keeps comes back from checkpoint.pt exactly: types, dtypes, bits.

Resume is bit for bit only if loading gives back what was saved: checked here for the state of
every registered flow on every manifold it supports, and for the whole checkpoint of a run of
every task, through the file (weights_only loading and the NumPy codec).
"""

from __future__ import annotations

import pytest

import sliceflow
from sliceflow import rundir
from sliceflow.rundir import read_checkpoint, write_checkpoint
from tests.flows.test_contract import CASES, IDS, clouds, engine_steps, make
from tests.helpers import small_scenario
from tests.rundir.test_checkpoint_safety import same_data


@pytest.mark.parametrize(("name", "manifold", "params", "shape"), CASES, ids=IDS)
def test_a_flows_state_comes_back_exactly(tmp_path, name, manifold, params, shape):
    flow = make(name, manifold, params, [0, 1], **shape)
    x, y = clouds(manifold, [0, 1], **shape)
    engine_steps(flow, x, y)
    state = flow.state_dict()
    write_checkpoint(tmp_path / "c.pt", {"format": "sliceflow-checkpoint", "flow": state})
    same_data(state, read_checkpoint(tmp_path / "c.pt")["flow"])


@pytest.mark.parametrize("task", ["flow", "plan", "dictionary", "flow_matching"])
def test_a_runs_checkpoint_comes_back_exactly(tmp_path, monkeypatch, task):
    written = {}

    def keep(path, data):
        written["data"] = data
        return write_checkpoint(path, data)

    monkeypatch.setattr(rundir, "write_checkpoint", keep)
    scenario = small_scenario(task, steps=4, seeds=2)
    if task == "flow":  # a flow that keeps NumPy arrays in its state too
        scenario["methods"] = [{"method": "sinkhorn", "blur": 0.2}, {"method": "max_sw"}]
    sliceflow.run(scenario, out=tmp_path / "run", render=False)
    same_data(written["data"], read_checkpoint(tmp_path / "run" / "checkpoint.pt"))
