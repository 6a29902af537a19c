"""The plan task end to end: costs against POT, keep_best, determinism, batching, resume, the
run directory, and one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.engine import RunInterrupted
from sliceflow.rundir import read_npz
from sliceflow.tasks import get_task
from tests.helpers import small_scenario

DGSWP = {"method": "dgswp", "hidden": [16, 8], "eps": 0.5, "n_perturbations": 8, "inner_lr": 0.2}


def clouds(run_dir):
    arrays = read_npz(run_dir / "particles.npz")
    return arrays["source"], arrays["target"]


def test_every_plan_costs_at_least_w2_and_exact_equals_emd2(tmp_path):
    result = sliceflow.run(small_scenario("plan"), out=tmp_path / "run", render=False)
    source, target = clouds(tmp_path / "run")
    w2 = np.array([ot.emd2([], [], ot.dist(source[s].astype(float), target[s].astype(float)))
                   for s in range(3)])  # fmt: skip
    arrays = read_npz(tmp_path / "run" / "particles.npz")
    for label in result.labels:
        traced_w2 = result.values(label, "w2sq")  # (S, steps + 1)
        np.testing.assert_allclose(traced_w2, np.repeat(w2[:, None], 13, 1), rtol=1e-12)
        assert (result.w2sq(label) >= w2[:, None] * (1 - 1e-12)).all(), label
        perms = arrays[label]  # (K, S, n): the snapshots are permutations
        assert (np.sort(perms, axis=-1) == np.arange(64)).all()
    np.testing.assert_allclose(result.w2sq("exact"), np.repeat(w2[:, None], 13, 1), rtol=1e-12)
    final = arrays["exact"][-1]
    for s in range(3):
        cost = ((source[s] - target[s][final[s]]) ** 2).sum(-1).mean()
        assert cost == pytest.approx(w2[s], rel=1e-6)


def test_keep_best_holds_the_best_plan_so_far_and_rolls_back(tmp_path):
    methods = [{**DGSWP, "label": "plain"}, {**DGSWP, "label": "best", "keep_best": True}]
    result = sliceflow.run(small_scenario("plan", methods=methods, steps=25), out=tmp_path / "r",
                           render=False)  # fmt: skip
    plain, best = result.w2sq("plain"), result.w2sq("best")
    np.testing.assert_array_equal(best, np.minimum.accumulate(plain, axis=1))
    assert (plain[:, -1] > best[:, -1]).any()  # a real roll-back happened
    source, target = clouds(tmp_path / "r")
    held = read_npz(tmp_path / "r" / "particles.npz")["best"][-1]  # the plan at the last step
    for s in range(3):
        cost = ((source[s] - target[s][held[s]]) ** 2).sum(-1).mean()
        assert cost == pytest.approx(best[s, -1], rel=1e-5)


def test_same_scenario_is_deterministic_and_a_seed_alone_equals_it_in_a_batch(tmp_path):
    for data_seed in (None, 7):
        scenario = small_scenario("plan", data_seed=data_seed, steps=6)
        first = sliceflow.run(scenario, write=False)
        again = sliceflow.run(scenario, write=False)
        alone = sliceflow.run(
            small_scenario("plan", data_seed=data_seed, steps=6, seeds=[1]), write=False
        )
        for label in first.labels:
            assert np.array_equal(first.w2sq(label), again.w2sq(label))
            assert np.array_equal(first.w2sq(label)[1], alone.w2sq(label)[0])
            assert np.array_equal(first.particles[label][:, 1], alone.particles[label][:, 0])
    fixed = sliceflow.run(small_scenario("plan", data_seed=7, steps=0), write=False).values(
        "exact", "w2sq"
    )
    assert np.all(fixed == fixed[0])  # data_seed: every seed sees the same clouds


def test_interrupted_run_resumes_bit_for_bit(tmp_path):
    scenario = small_scenario("plan", steps=20, methods=[{**DGSWP, "keep_best": True},
                                                {"method": "min_swgg_opt"}])  # fmt: skip
    full = sliceflow.run(scenario, out=tmp_path / "full", render=False)

    def stop(label, step, total):
        if label == "dgswp" and step == 9:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        sliceflow.run(scenario, out=tmp_path / "cut", render=False, on_progress=stop)
    resumed = sliceflow.run(scenario, out=tmp_path / "cut", render=False, resume=True)
    for label in ("dgswp", "min_swgg_opt"):
        assert np.array_equal(resumed.w2sq(label), full.w2sq(label))
        assert np.array_equal(resumed.particles[label], full.particles[label])


@pytest.mark.slow  # two worker processes, figures and a GIF
def test_run_directory_has_the_plan_columns_and_figures(tmp_path):
    scenario = small_scenario("plan", steps=4, methods=[{"method": "exact"}, DGSWP],
                             output={"gif_frames": 3, "gif_size_px": 128})  # fmt: skip
    sliceflow.run(scenario, out=tmp_path / "run", jobs=2)
    header = (tmp_path / "run" / "trace.csv").read_text().splitlines()[0]
    assert header == "method,seed,step,plan_cost,w2sq,elapsed_s"
    for name in ("plans.png", "plan_curves.png", "plans.gif", "report.html", "summary.csv"):
        assert (tmp_path / "run" / name).is_file(), name


BAD = {
    "unknown plan method": ({"methods": [{"method": "dgswpp"}]}, "did you mean 'dgswp'?"),
    "a flow as a plan method": ({"methods": [{"method": "swd"}]}, "'swd' is a flow"),
    "flow-only key": ({"n_particles": 50}, "a key of task flow"),
    "flow-only method key": ({"methods": [{"method": "dgswp", "inner_steps": 3}]},
                             "methods[0].inner_steps: unknown key"),
    "sizes differ": ({"target": {"dataset": "dgswp_moons", "n_samples": 32}},
                     "as many source as target points"),
    "bad widths": ({"methods": [{"method": "dgswp", "hidden": [16, 0]}]}, "positive integers"),
    "the projection's rate is inner_lr": ({"methods": [{"method": "dgswp", "lr": 0.2}]},
                                          "methods[0].lr: unknown key"),
    "a ball projection in R^d": ({"methods": [{"method": "dgswp", "projection": "busemann"}]},
                                 "use linear or mlp"),
}  # fmt: skip


def _one_line_exit_2(path, expected):
    runner = CliRunner()
    for command in ("run", "validate"):
        result = runner.invoke(app, [command, str(path)])
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_plan_scenarios_give_one_line_and_exit_2(case, write_scenario):
    changes, expected = BAD[case]
    _one_line_exit_2(write_scenario(small_scenario("plan", **changes)), expected)


def test_plan_keys_and_methods_in_a_flow_scenario_give_one_line_and_exit_2(write_scenario):
    _one_line_exit_2(write_scenario(small_scenario(data_seed=3)), "a key of task plan")
    flow = small_scenario(methods=[{"method": "exact"}])
    _one_line_exit_2(write_scenario(flow, "flow.yaml"), "'exact' is a plan method")


def test_datasets_follow_the_papers_recipes():
    from sliceflow.datasets import Stream, get_dataset

    eight = get_dataset("dgswp_eight_gaussians")
    points = eight.sample(eight.Config(), 8000, Stream(3, "source"), None).reshape(8, 1000, 2)
    centres = 5 * np.array([(1.5, 0), (-1.75, 0.5), (0, 1.5), (0, -1)])
    np.testing.assert_allclose(points[:4].mean(1), centres, atol=4 * 0.1**0.25 / 1000**0.5)
    np.testing.assert_allclose(points.std(1), 0.1**0.25, rtol=0.1)
    moons = get_dataset("dgswp_moons")
    y = moons.sample(moons.Config(), 1024, Stream(3, "target"), None)
    # undo x - 2, 1.1 y + 1 and 3 p - 1, and the outer lift: what remains is arc + (u, u)
    unit = np.stack([(y[:, 0] + 2 + 1) / 3, ((y[:, 1] - 1) / 1.1 + 1) / 3], 1)
    unit[:512, 1] -= 0.3
    t = np.linspace(0, np.pi, 512)
    arcs = np.concatenate([np.stack([np.cos(t), np.sin(t)], 1),
                           np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)])  # fmt: skip
    u = unit - arcs
    np.testing.assert_allclose(u[:, 0], u[:, 1], atol=1e-12)
    assert (u[:, 0] >= -1e-12).all() and (u[:, 0] < 0.2).all() and u[:, 0].std() > 0.04
    with pytest.raises(ValueError, match="divisible by 8"):
        eight.sample(eight.Config(), 100, Stream(0, "source"), None)


def test_plan_task_is_in_torch_float32_by_default_and_validates(tmp_path, write_scenario):
    path = write_scenario(small_scenario("plan"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "task plan" in result.output
    task = get_task("plan")(sliceflow.load_scenario(path), torch.device("cpu"))
    assert task.x.dtype == torch.float32 and task.x.shape == (3, 64, 2)


def test_sinkhorn_plan_cost_equals_pot_and_bounds_w2(tmp_path):
    methods = [{"method": "sinkhorn", "reg": 2.0, "tol": 1e-9, "max_iter": 5000}]
    result = sliceflow.run(small_scenario("plan", steps=2, seeds=2, methods=methods),
                           out=tmp_path / "run", render=False)  # fmt: skip
    source, target = clouds(tmp_path / "run")
    for s in range(2):
        cost = ot.dist(source[s].astype(float), target[s].astype(float))
        uniform = np.full(64, 1 / 64)
        expected = ot.sinkhorn2(uniform, uniform, cost, 2.0, stopThr=1e-12, numItermax=100000)
        assert result.w2sq("sinkhorn")[s, -1] == pytest.approx(expected, rel=1e-6)
        assert result.w2sq("sinkhorn")[s, -1] >= ot.emd2(uniform, uniform, cost)
    targets = read_npz(tmp_path / "run" / "particles.npz")["sinkhorn"]
    assert targets.shape == (2, 2, 64) and targets.min() >= 0 and targets.max() < 64


def test_sinkhorn_that_does_not_converge_is_one_line(write_scenario):
    methods = [{"method": "sinkhorn", "reg": 1e-3, "max_iter": 3, "scaling": None}]
    path = write_scenario(small_scenario("plan", steps=1, methods=methods))
    result = CliRunner().invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2 and "raise max_iter or reg" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_list_names_the_plan_task_and_its_methods():
    listing = CliRunner().invoke(app, ["list"])
    assert listing.exit_code == 0
    section = listing.stdout.split("methods (task plan)")[1].split("datasets")[0]
    for name in ("exact", "sinkhorn", "min_swgg", "min_swgg_opt", "dgswp"):
        assert f"  {name} " in section
    assert "dgswp_eight_gaussians" in listing.stdout and "dgswp_moons" in listing.stdout
