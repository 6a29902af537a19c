"""Wasserstein dictionary learning (task: dictionary): recovery of known atoms, determinism,
batching, resume, gradients, outputs and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.datasets import Stream
from sliceflow.datasets.histograms import HISTOGRAMS
from sliceflow.engine import RunInterrupted
from sliceflow.errors import ScenarioError
from sliceflow.ot import barycenter
from tests.helpers import SCENARIOS, small_scenario


@pytest.mark.slow
def test_synthetic_scenario_recovers_the_true_atoms_and_drops_the_loss_100x(tmp_path):
    result = sliceflow.run(SCENARIOS / "dictionary_synthetic.yaml", out=tmp_path / "run",
                           seeds=2)  # fmt: skip
    loss = result.values("wdl", "loss")  # (S, steps + 1)
    assert (loss[:, 0] / loss[:, -1] >= 100).all()
    last = result.scenario.steps
    w2 = [row[4] for row in result.metrics if row[3] == "atoms_w2" and row[2] == last]
    assert len(w2) == 2 and max(w2) < 0.05  # 5% of the grid's spread [0, 1]
    written = {p.name for p in (tmp_path / "run").iterdir()}
    expected = {
        "trace.csv",
        "trace.png",
        "weights.csv",
        "atoms.png",
        "reconstructions.png",
        "weights.png",
        "atoms.gif",
        "report.md",
        "report.html",
        "metrics_atoms_w2.png",
    }
    assert expected <= written  # fmt: skip


def test_synthetic_data_are_the_barycentres_of_the_true_atoms():
    made = HISTOGRAMS["gaussian_barycenters"]
    config = made.Config(n_bins=32, n_data=5)
    data = made.make(config, Stream(4, "target"))
    x = torch.linspace(0, 1, 32, dtype=torch.float64)
    again = barycenter(torch.from_numpy(data.atoms.T.copy()), (x[:, None] - x[None]) ** 2,
                       torch.from_numpy(data.weights), config.reg, method="log",
                       max_iter=config.n_iter, tol=None)  # fmt: skip
    assert np.allclose(data.data, again.numpy(), rtol=1e-10, atol=1e-14)
    assert np.allclose(data.data.sum(1), 1) and np.allclose(data.weights.sum(1), 1)
    assert np.allclose(data.atoms @ x.numpy(), config.means, atol=1e-3)


def test_digits_are_normalised_histograms_on_the_pixel_grid():
    data = HISTOGRAMS["digits"].make(HISTOGRAMS["digits"].Config(), Stream(0, "target"))
    assert data.data.shape == (1797, 64) and data.grid_shape == (8, 8)
    assert np.allclose(data.data.sum(1), 1) and (data.data >= 0).all()


def test_same_scenario_is_bit_identical_and_a_seed_alone_equals_it_in_a_batch():
    batch = sliceflow.run(small_scenario("dictionary"), write=False)
    again = sliceflow.run(small_scenario("dictionary"), write=False)
    alone = sliceflow.run(small_scenario("dictionary", seeds=[2]), write=False)
    assert np.array_equal(batch.values("wdl", "loss"), again.values("wdl", "loss"))
    assert np.array_equal(batch.values("wdl", "loss")[2], alone.values("wdl", "loss")[0])
    assert np.array_equal(batch.particles["wdl"][:, 2], alone.particles["wdl"][:, 0])


def test_unrolled_and_autograd_gradients_give_the_same_learning_curve():
    methods = [{"method": "wdl", "label": g, "n_atoms": 2, "reg": 0.005, "n_iter": 10,
                "lr": 0.1, "gradient": g} for g in ("unrolled", "autograd")]  # fmt: skip
    result = sliceflow.run(small_scenario("dictionary", methods=methods, seeds=1), write=False)
    unrolled, autograd = result.values("unrolled", "loss"), result.values("autograd", "loss")
    assert np.allclose(unrolled, autograd, rtol=1e-9, atol=0)
    assert unrolled[0, -1] < unrolled[0, 0] / 2


def test_kl_loss_is_traced_and_l2_is_the_squared_error():
    methods = [{"method": "wdl", "n_atoms": 2, "reg": 0.005, "n_iter": 10, "loss": "kl"}]
    result = sliceflow.run(small_scenario("dictionary", methods=methods, seeds=1), write=False)
    kl, l2 = result.values("wdl", "loss"), result.values("wdl", "l2")
    assert (kl > 0).all() and (l2 > 0).all() and not np.allclose(kl, l2)
    assert kl[0, -1] < kl[0, 0]


def test_interrupted_run_resumes_bit_for_bit(tmp_path):
    scenario = small_scenario("dictionary", steps=12)
    full = sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, on_progress=stop)
    resumed = sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True)
    assert np.array_equal(resumed.values("wdl", "loss"), full.values("wdl", "loss"))
    assert np.array_equal(resumed.particles["wdl"], full.particles["wdl"])
    assert resumed.tables["weights.csv"] == full.tables["weights.csv"]


def test_outputs_hold_the_weights_atoms_and_reconstructions(tmp_path):
    result = sliceflow.run(small_scenario("dictionary"), out=tmp_path / "run", render=False)
    rows = result.tables["weights.csv"]
    assert len(rows) == 3 * 8 * 2 and {r[2] for r in rows} == {12}
    weights = np.array([r[5] for r in rows]).reshape(3, 8, 2)
    assert np.allclose(weights.sum(-1), 1)
    snapshots = result.particles["wdl"]  # (T, S, K + shown, n)
    assert snapshots.shape == (4, 3, 2 + 3, 32)
    assert np.allclose(snapshots[:, :, :2].sum(-1), 1) and np.allclose(
        snapshots[:, :, 2:].sum(-1), 1
    )
    assert result.arrays["data"].shape == (3, 8, 32) and result.arrays["true_atoms"].shape[1] == 2


def _error(tmp_path, write_scenario, **changes) -> str:
    runner = CliRunner()
    outcome = runner.invoke(
        app, ["validate", str(write_scenario(small_scenario("dictionary", **changes)))]
    )
    assert outcome.exit_code == 2, outcome.output
    text = outcome.output.strip()
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"grid": {"shape": [5, 5]}}, "grid shape [5, 5] has 25 bins but the data have 32"),
        ({"data": {"dataset": "gaussian_barycenters", "concentration": [1.0, 1.0]}},
         "concentration has 2 weights but there are 3 atoms"),
        ({"methods": [{"method": "wdl", "n_atoms": 2, "reg": 0.0}]}, "greater than 0"),
        ({"methods": [{"method": "wdl", "n_atoms": 2, "reg": -1}]}, "greater than 0"),
        ({"methods": [{"method": "wdll", "n_atoms": 2, "reg": 1}]}, "did you mean 'wdl'"),
        ({"data": {"dataset": "digitz"}}, "did you mean 'digits'"),
    ],
)  # fmt: skip
def test_bad_scenarios_give_one_line(tmp_path, write_scenario, changes, expected):
    assert expected in _error(tmp_path, write_scenario, **changes)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0.5, 0.5, 0.0], [0.2, -0.1, 0.9]]), "histogram 1 has a negative entry"),
        (np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]), "histogram 1 has zero mass"),
        (np.array([[0.5, np.nan, 0.0]]), "histogram 0 has NaN"),
    ],
)
def test_bad_histogram_files_give_one_line(tmp_path, write_scenario, array, expected):
    np.save(tmp_path / "hist.npy", array)
    text = _error(tmp_path, write_scenario, data={"file": "hist.npy"})
    assert expected in text


def test_a_file_of_images_sets_the_grid_and_a_wrong_grid_is_refused(tmp_path):
    images = np.random.default_rng(0).random((6, 4, 5))
    np.save(tmp_path / "images.npy", images)
    scenario = small_scenario("dictionary", data={"file": str(tmp_path / "images.npy")}, steps=2)
    result = sliceflow.run(scenario, write=False)
    assert result.info["grid_shape"] == [4, 5]
    with pytest.raises(ScenarioError, match=r"grid shape \[4, 4\] has 16 bins"):
        sliceflow.run(small_scenario("dictionary", data={"file": str(tmp_path / "images.npy")},
                                     grid={"shape": [4, 4]}), write=False)  # fmt: skip


def test_digits_scenario_validates():
    outcome = CliRunner().invoke(app, ["validate", str(SCENARIOS / "dictionary_digits.yaml")])
    assert outcome.exit_code == 0, outcome.output


@pytest.mark.slow
def test_learners_in_parallel_processes_give_the_same_numbers(tmp_path):
    methods = [{"method": "wdl", "label": loss, "n_atoms": 2, "reg": 0.005, "n_iter": 10,
                "loss": loss} for loss in ("quadratic", "kl")]  # fmt: skip
    scenario = small_scenario("dictionary", methods=methods, steps=4)
    alone = sliceflow.run(scenario, out=tmp_path / "one", render=False)
    together = sliceflow.run(scenario, out=tmp_path / "two", render=False, jobs=2)
    for label in ("quadratic", "kl"):
        assert np.array_equal(alone.values(label, "loss"), together.values(label, "loss"))
        assert np.array_equal(alone.particles[label], together.particles[label])
    assert alone.tables["weights.csv"] == together.tables["weights.csv"]
