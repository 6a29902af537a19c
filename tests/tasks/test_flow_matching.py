"""task: flow_matching end to end: outputs, determinism, resume, learning, bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import sliceflow
from sliceflow.engine import RunInterrupted
from sliceflow.errors import ScenarioError
from tests.helpers import small_scenario

COLUMNS = ["method", "seed", "solver", "steps", "nfe", "w2sq"]


def _sampling(path):
    with open(path / "sampling.csv") as stream:
        return list(csv.reader(stream))


def test_outputs_have_the_documented_columns(tmp_path):
    result = sliceflow.run(small_scenario("flow_matching"), out=tmp_path / "run", render=False)
    table = _sampling(tmp_path / "run")
    assert table[0] == COLUMNS
    rows = table[1:]
    assert len(rows) == 2 * 2 * 3  # couplings x seeds x (Euler 1, Euler 4, dopri5)
    for _, _, solver, steps, nfe, w2sq in rows:
        assert solver in ("euler", "dopri5") and float(w2sq) >= 0
        assert (nfe == steps) if solver == "euler" else int(nfe) == 6 * int(steps) + 2
    assert result.trace_steps.tolist() == [0, 5, 10, 15, 20]
    paths = np.load(tmp_path / "run" / "particles.npz")["icfm"]
    assert paths.shape == (3, 2, 26, 20, 2)  # snapshots, seeds, frames, shown samples, d
    with open(tmp_path / "run" / "metrics.csv") as stream:
        assert sum("straightness" in line for line in stream) == 4  # 2 couplings x 2 seeds


def test_a_seed_gives_the_same_numbers_alone_or_in_a_batch(tmp_path):
    batch = sliceflow.run(
        small_scenario("flow_matching", seeds=[0, 1, 2]), out=tmp_path / "b", render=False
    )
    alone = sliceflow.run(
        small_scenario("flow_matching", seeds=[1]), out=tmp_path / "a", render=False
    )
    for label in ("icfm", "dgswp"):
        assert np.array_equal(batch.loss(label)[1], alone.loss(label)[0])
    rows_batch = [r[2:] for r in _sampling(tmp_path / "b")[1:] if r[1] == "1"]
    assert rows_batch == [r[2:] for r in _sampling(tmp_path / "a")[1:]]


def test_interrupted_run_resumes_bit_for_bit(tmp_path):
    scenario = small_scenario("flow_matching")
    sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if label == "dgswp" and step == 13:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, on_progress=stop)
    assert _sampling(tmp_path / "cut")[1:] == [r for r in _sampling(tmp_path / "full")[1:]
                                               if r[0] == "icfm"]  # fmt: skip
    sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True)
    assert _sampling(tmp_path / "cut") == _sampling(tmp_path / "full")
    for name in ("trace.csv", "metrics.csv"):
        full = (tmp_path / "full" / name).read_text().splitlines()
        cut = (tmp_path / "cut" / name).read_text().splitlines()
        strip = [lambda lines: [line.rsplit(",", 1)[0] for line in lines], lambda x: x][
            name == "metrics.csv"
        ]  # trace.csv ends with the elapsed time
        assert strip(cut) == strip(full)


@pytest.mark.slow
def test_straight_couplings_sample_better_in_one_step(tmp_path):
    """Gaussian to shifted Gaussian: the OT paths are straight lines, so OT-CFM's one Euler step
    is far closer to the target than I-CFM's, and its paths are straighter."""
    methods = [{"method": "independent", "label": "icfm"},
               {"method": "minibatch_ot", "label": "ot"}]  # fmt: skip
    scenario = small_scenario(
        "flow_matching",
        steps=400,
        methods=methods,
        seeds=[0, 1, 2],
        lr=0.005,
        network={"width": 32, "depth": 2},
        evaluation={"n_samples": 250, "euler_steps": [1], "dopri5": False},
    )
    result = sliceflow.run(scenario, out=tmp_path / "run", render=False)
    one_step = {label: [] for label in ("icfm", "ot")}
    for method, _, solver, steps, _, w2sq in result.tables["sampling.csv"]:
        if solver == "euler" and steps == 1:
            one_step[method].append(w2sq)
    assert np.median(one_step["ot"]) < 0.5 * np.median(one_step["icfm"])
    straight: dict[str, list[float]] = {}
    with open(tmp_path / "run" / "metrics.csv") as stream:
        for row in csv.DictReader(stream):
            straight.setdefault(row["method"], []).append(float(row["value"]))
    assert np.median(straight["ot"]) < 0.5 * np.median(straight["icfm"])


def test_a_couplings_sigma_overrides_the_scenarios_and_leaves_the_others_alone(tmp_path):
    """DGSWP-CFM at sigma 0.05 beside I-CFM at 0 (the authors' Table 1 setting): the key changes
    that coupling's path only; the other coupling keeps its numbers bit for bit, and a coupling's
    sigma 0 under a scenario sigma > 0 draws no noise, as a scenario sigma of 0."""
    evaluation = {"n_samples": 60, "euler_steps": [1], "dopri5": False, "show": 20}
    losses = {}
    for name, sigma, own in (("plain", 0.0, {}), ("noisy", 0.0, {"sigma": 0.05}),
                             ("quiet", 0.05, {"sigma": 0.0})):  # fmt: skip
        methods = [
            {"method": "independent", "label": "icfm"},
            {"method": "dgswp", "label": "dgswp", "init_steps": 10, "aggregate": 3, **own},
        ]
        scenario = small_scenario("flow_matching", steps=10, sigma=sigma, methods=methods,
                                  evaluation=evaluation, snapshots={"steps": [0, 10]})  # fmt: skip
        result = sliceflow.run(scenario, out=tmp_path / name, render=False)
        losses[name] = {label: result.loss(label) for label in ("icfm", "dgswp")}
    assert np.array_equal(losses["noisy"]["icfm"], losses["plain"]["icfm"])
    assert not np.array_equal(losses["noisy"]["dgswp"], losses["plain"]["dgswp"])
    assert np.array_equal(losses["quiet"]["dgswp"], losses["plain"]["dgswp"])
    assert not np.array_equal(losses["quiet"]["icfm"], losses["plain"]["icfm"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"methods": [{"method": "minibatch_optimal"}]}, "unknown coupling 'minibatch_optimal'"),
        ({"methods": [{"method": "dgswp", "aggregate": 0}]}, "methods[0].aggregate"),
        ({"methods": [{"method": "dgswp", "steps_per_iteration": 1}]}, "steps_per_aggregate"),
        ({"methods": [{"method": "independent", "sigma": -0.1}]}, "methods[0].sigma"),
        ({"source": {"file": "x.npy"}}, "give a dataset"),
        ({"evaluation": {"n_samples": 600}}, "hold out fewer"),
        ({"evaluation": {"n_samples": 60, "image_shape": [3, 3]}}, "has 9 pixels"),
    ],
)
def test_bad_input_is_one_line(tmp_path, change, message):
    with pytest.raises(ScenarioError) as caught:
        sliceflow.run(small_scenario("flow_matching", **change), out=tmp_path / "run", render=False)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_target_file_of_the_wrong_shape_is_one_line(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros(100))
    target = {"file": str(tmp_path / "flat.npy")}
    with pytest.raises(ScenarioError, match=r"has shape \(100,\); expected \(samples, dim"):
        sliceflow.run(
            small_scenario("flow_matching", target=target), out=tmp_path / "run", render=False
        )


def test_target_file_of_vectors_runs(tmp_path):
    points = torch.randn(300, 3, generator=torch.Generator().manual_seed(0)).numpy()
    np.save(tmp_path / "vectors.npy", points)
    source = {"dataset": "gaussian", "mean": 0.0, "cov": 1.0}
    target = {"file": str(tmp_path / "vectors.npy")}
    scenario = small_scenario("flow_matching", target=target, steps=3, source=source)
    result = sliceflow.run(scenario, out=tmp_path / "run", render=False)
    assert result.target.shape == (2, 60, 3)  # the held-out samples


def test_the_speed_probe_skips_the_dgswp_initialisation():
    """The engine orders parallel methods by ``seconds_per_step`` of a throwaway stepper; with
    a million initial projection steps, a probe that ran them would never return."""
    from sliceflow.scenario import build_scenario
    from sliceflow.tasks import get_task

    methods = [{"method": "dgswp", "label": "dgswp", "init_steps": 1_000_000, "aggregate": 2}]
    scenario = build_scenario(small_scenario("flow_matching", methods=methods))
    stepper = get_task("flow_matching")(scenario, torch.device("cpu")).stepper("dgswp")
    assert 0 < stepper.seconds_per_step() < 30


def test_missing_torchcfm_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "torchcfm" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ScenarioError, match="pip install --no-deps torchcfm"):
        sliceflow.run(small_scenario("flow_matching"), write=False)
