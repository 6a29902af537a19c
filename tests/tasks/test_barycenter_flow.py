"""Barycentre flows: particles descending sum_k w_k D(x, Y_k) toward several weighted targets."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import yaml
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.engine import RunInterrupted
from tests.helpers import SCENARIOS, small_scenario


def multi(**changes) -> dict:
    """The small two-moons scenario with ``targets`` instead of ``target``."""
    scenario = small_scenario(**changes)
    del scenario["target"]
    return scenario


TWO = [
    {"dataset": "two_moons", "weight": 3.0},
    {"dataset": "circle", "n_samples": 40, "weight": 1.0},
]


def test_gaussian_barycentre_flow_approaches_the_bures_barycentre(tmp_path):
    result = sliceflow.run(SCENARIOS / "barycenter_gaussians.yaml", out=tmp_path / "run",
                           seeds=1, methods=["swd"], render=False)  # fmt: skip
    references = result.info["references"]
    bures = references["bures"]
    # weights 0.5, 0.3, 0.2; isotropic covariances: the closed form N(sum w m, (sum w s)^2 I)
    assert np.allclose(bures["mean"][0], [-0.4, -0.3])
    assert np.allclose(bures["cov"][0], 0.7**2 * np.eye(2), atol=1e-8)
    x = result.particles["swd"][-1, 0]  # (n, 2) at the last step
    assert np.allclose(x.mean(0), bures["mean"][0], atol=0.15)  # started 1.9 away
    assert np.allclose(np.cov(x.T, bias=True), bures["cov"][0], atol=0.1)
    reached = result.w2sq("swd")[0, -1]
    assert reached == pytest.approx(references["free_support_barycenter"][0], rel=0.03)
    assert result.w2sq("swd")[0, 0] > 1.5 * reached
    saved = yaml.safe_load((tmp_path / "run" / "scenario.yaml").read_text())["run"]
    assert saved["trace"]["primary"] == "bary_w2sq" and saved["target_weights"] == [0.5, 0.3, 0.2]


def test_traced_objective_is_the_weighted_sum_of_exact_w2(tmp_path):
    result = sliceflow.run(multi(steps=3, targets=TWO),
                           out=tmp_path / "run", render=False)  # fmt: skip
    arrays = np.load(tmp_path / "run" / "particles.npz")
    moons, circle = np.split(arrays["target"], [50], axis=1)
    assert list(arrays["target_sizes"]) == [50, 40]
    x = arrays["swd"][-1]
    for s in range(3):
        direct = [ot.emd2([], [], ot.dist(x[s], y[s].astype(np.float64))) for y in (moons, circle)]
        expected = 0.75 * direct[0] + 0.25 * direct[1]
        assert result.values("swd", "bary_w2sq")[s, -1] == pytest.approx(expected, rel=1e-6)
    header = (tmp_path / "run" / "trace.csv").read_text().splitlines()[0]
    assert header == "method,seed,step,loss,bary_w2sq,elapsed_s"


def test_exact_and_sinkhorn_flows_descend_a_weighted_sum_and_count_unconverged_solves(tmp_path):
    methods = [
        {"method": "exact_ot", "lr": 10.0},
        {"method": "sinkhorn", "lr": 10.0, "blur": 0.2, "max_iter": 3},
    ]
    result = sliceflow.run(multi(steps=40, targets=TWO, methods=methods),
                           out=tmp_path / "run", render=False)  # fmt: skip
    reference = np.array(result.info["references"]["free_support_barycenter"])
    exact = result.values("exact_ot", "bary_w2sq")
    # the exact flow is a damped version of the free-support fixed point: it reaches its objective
    assert np.all(exact[:, -1] < 0.5 * exact[:, 0])
    np.testing.assert_allclose(exact[:, -1], reference, rtol=0.05)
    # three iterations never converge: every solve of both targets (and debiasing terms) counted
    saved = yaml.safe_load((tmp_path / "run" / "scenario.yaml").read_text())["run"]
    counts = saved["sinkhorn_unconverged"]["sinkhorn"]
    assert len(counts) == 3 and min(counts) >= 2 * 40


def test_a_single_weighted_target_moves_the_particles_as_target_does():
    plain = sliceflow.run(small_scenario(steps=10), write=False)
    entry = {**small_scenario()["target"], "weight": 2.0}
    weighted = sliceflow.run(multi(steps=10, targets=[entry]), write=False)
    assert np.array_equal(plain.particles["swd"], weighted.particles["swd"])
    assert np.array_equal(plain.w2sq("swd"), weighted.w2sq("swd"))


def test_targets_of_the_same_dataset_are_independent_draws():
    twice = [{"dataset": "two_moons", "noise": 0.1, "weight": 1}] * 2
    result = sliceflow.run(multi(steps=0, targets=twice), write=False)
    first, second = np.split(result.arrays["target"], 2, axis=1)
    assert not np.allclose(first, second)


def test_interrupted_barycentre_flow_resumes_bit_for_bit(tmp_path):
    methods = [{"method": "max_sw", "lr": 1.0, "inner_steps": 3}]
    scenario = multi(steps=12, targets=TWO, methods=methods, snapshots={"every": 4})
    full = sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, on_progress=stop)
    resumed = sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True)
    assert np.array_equal(resumed.w2sq("max_sw"), full.w2sq("max_sw"))
    assert np.array_equal(resumed.loss("max_sw"), full.loss("max_sw"))


def test_report_draws_the_references(tmp_path):
    sliceflow.run(multi(steps=4, targets=TWO), out=tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "POT free-support barycentre" in report and "weighted exact W2^2" in report
    assert (tmp_path / "run" / "trace.png").exists()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"targets": TWO}, "give either target"),
        ({"target": None, "targets": [{"dataset": "circle"}]}, "each target needs a weight"),
        ({"target": None, "targets": [{"dataset": "circle", "weight": 0}]}, "greater than 0"),
        ({"target": None, "targets": [{"dataset": "circel", "weight": 1}]}, "did you mean"),
        ({"target": None, "targets": []}, "non-empty list"),
        ({"target": None, "targets": TWO, "trace": {"estimator": "sliced"}},
         "exact weighted objective only"),
        ({"target": None, "targets": TWO, "methods": [{"method": "jko_sw", "tau": 0.1,
                                             "functional": [{"kind": "sw_target", "weight": 1}]}]},
         "implicit"),
    ],
)  # fmt: skip
def test_bad_targets_give_one_line(write_scenario, changes, expected):
    scenario = {k: v for k, v in small_scenario(**changes).items() if v is not None}
    outcome = CliRunner().invoke(app, ["validate", str(write_scenario(scenario))])
    assert outcome.exit_code == 2, outcome.output
    assert expected in outcome.output and "\n" not in outcome.output.strip()
