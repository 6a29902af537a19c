"""Ball flows through the engine and the CLI: the paper's wnd scenario, file targets, resume."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.engine import RunInterrupted
from tests.helpers import SCENARIOS


def small_ball_scenario(**changes) -> dict:
    scenario = {
        "name": "ball",
        "manifold": "poincare",
        "n_particles": 30,
        "steps": 12,
        "seeds": 3,
        "source": {"dataset": "wrapped_normal"},
        "target": {"dataset": "wrapped_normal", "mean": [1.5, 1.25**0.5, 0.0], "cov": 0.1},
        "methods": [
            {"method": "dgswp", "lr": 0.8, "inner_steps": 5},
            {"method": "hhsw", "lr": 2.5, "n_projections": 20},
        ],
        "trace": {"every": 1},
        "snapshots": {"count": 3},
        "output": {"gif": False},
    }
    scenario.update(changes)
    return scenario


@pytest.mark.slow
def test_every_ball_flow_lowers_the_median_w2_of_poincare_wnd_tenfold(tmp_path):
    scenario = yaml.safe_load((SCENARIOS / "poincare_wnd.yaml").read_text())
    scenario["methods"].append({"method": "min_swgg", "label": "min_swgg", "lr": 2.5})
    scenario["output"] = {"gif": False}
    result = sliceflow.run(scenario, out=tmp_path / "wnd", render=False)
    assert result.scenario.dtype == "float64" and result.trace_steps[-1] == 300
    for label in ("hhsw", "swd", "dgswp", "ghsw", "min_swgg"):
        w2 = result.w2sq(label)  # (10, 301)
        assert np.isfinite(w2).all(), label
        median = np.median(w2, axis=0)
        assert median[-1] < median[0] / 10, (label, median[0], median[-1])


def test_ball_scenarios_validate():
    runner = CliRunner()
    for name in ("poincare_wnd", "poincare_wnd_border", "poincare_mwnd"):
        result = runner.invoke(app, ["validate", str(SCENARIOS / f"{name}.yaml")])
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("bad", [[1.0, 0.0], [0.8, 0.7]])
def test_a_target_file_point_at_or_outside_the_boundary_is_rejected(tmp_path, bad):
    points = np.random.RandomState(0).uniform(-0.5, 0.5, (20, 2))
    points[7] = bad
    np.save(tmp_path / "target.npy", points)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(small_ball_scenario(target={"file": "target.npy"})))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "row 7" in text and "boundary of the Poincaré ball" in text
    assert "Traceback" not in result.output


def test_a_target_file_inside_the_ball_is_used(tmp_path):
    np.save(tmp_path / "target.npy", np.random.RandomState(1).uniform(-0.5, 0.5, (30, 2)))
    scenario = small_ball_scenario(target={"file": str(tmp_path / "target.npy")}, steps=3)
    result = sliceflow.run(scenario, out=tmp_path / "o", render=False)
    assert np.isfinite(result.w2sq("dgswp")).all()


def test_dgswp_on_the_ball_resumes_bit_for_bit(tmp_path):
    scenario = small_ball_scenario()
    full = sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if label == "dgswp" and step == 7:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, on_progress=stop)
    resumed = sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True)
    for label in ("dgswp", "hhsw"):
        assert np.array_equal(resumed.w2sq(label), full.w2sq(label))
        assert np.array_equal(resumed.loss(label), full.loss(label))


def test_a_ball_seed_gives_the_same_trace_alone_or_in_a_batch(tmp_path):
    batch = sliceflow.run(small_ball_scenario(seeds=[0, 1, 2]), out=tmp_path / "b", render=False)
    alone = sliceflow.run(small_ball_scenario(seeds=[1]), out=tmp_path / "a", render=False)
    for label in ("dgswp", "hhsw"):
        assert np.array_equal(batch.w2sq(label)[1], alone.w2sq(label)[0])
