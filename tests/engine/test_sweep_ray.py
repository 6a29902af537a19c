"""`sliceflow sweep --executor ray` on a local Ray runtime of 2 CPUs, shared by this module.

Ray is an optional extra; CI installs it (`pip install -e ".[test,ray]"`), so these tests run there.
"""

from __future__ import annotations

import time

import pytest
import yaml

import sliceflow
from sliceflow.engine.sweep import SweepInterrupted, sweep
from tests.engine.sweep_helpers import assert_same_run, sweep_scenario

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def _warm() -> None:
    import time

    import sliceflow.engine.run  # noqa: F401  (what a unit imports first)

    time.sleep(1.0)  # overlap with the other warm-up task: one per worker


@pytest.fixture(scope="module", autouse=True)
def runtime():
    """One local Ray runtime for the module (starting one takes about 10 s), its two workers
    warm (torch and sliceflow imported), so that two tasks start stepping together."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    warm = ray.remote(num_cpus=1)(_warm)
    ray.get([warm.remote(), warm.remote()])
    yield
    ray.shutdown()


def test_a_grid_of_4_points_on_ray_equals_the_local_executor(tmp_path):
    path = sweep_scenario(tmp_path / "scenario.yaml")
    grid = ["methods.swd.lr=0.5,1", "methods.max_sw.inner_lr=0.01,0.1"]
    on_ray = sweep(path, grid, out=tmp_path / "ray", executor="ray", render=False)
    local = sweep(path, grid, out=tmp_path / "local", max_parallel=2, render=False)
    assert on_ray.states("completed") == local.states("completed") and len(on_ray.points) == 4
    for point in on_ray.points:
        assert_same_run(tmp_path / "local" / point["name"], tmp_path / "ray" / point["name"])
    assert [(r.point, r.method, r.median) for r in on_ray.rows] == [
        (r.point, r.method, r.median) for r in local.rows
    ]


def test_a_ray_point_interrupted_mid_way_resumes_to_the_same_numbers(tmp_path):
    path = sweep_scenario(tmp_path / "scenario.yaml", methods=[{"method": "swd", "lr": 1.0}],
                          trace={"every": 100}, snapshots={"every": 1000})  # fmt: skip
    grid = {"steps": [12000, 10]}  # the long point is submitted first

    def stop_after_first(kind, point, detail):
        if kind == "completed":
            time.sleep(1.0)  # the long point (several seconds) steps on meanwhile
            raise KeyboardInterrupt  # Ctrl-C in the driver: the running task is cancelled

    with pytest.raises(SweepInterrupted) as caught:
        sweep(path, grid, out=tmp_path / "out", executor="ray", on_event=stop_after_first,
              render=False)  # fmt: skip
    assert caught.value.result.states("interrupted") == ["steps=12000"]
    kept = yaml.safe_load((tmp_path / "out" / "steps=12000" / "scenario.yaml").read_text())
    assert 0 < kept["run"]["completed_steps"]["swd"] < 12000  # stopped mid-way, files written
    events = []
    finished = sweep(path, grid, out=tmp_path / "out", executor="ray", render=False,
                     on_event=lambda *e: events.append(e[0]))  # fmt: skip
    assert sorted(events) == ["completed", "skip", "start"]
    assert finished.states("completed") == ["steps=12000", "steps=10"]
    for steps in (10, 12000):
        plain = tmp_path / f"plain{steps}"
        sliceflow.run(path, out=plain, steps=steps, render=False)
        assert_same_run(plain, tmp_path / "out" / f"steps={steps}")
