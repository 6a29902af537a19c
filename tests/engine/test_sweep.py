"""`sliceflow sweep` on the local executor: points equal plain runs, shards, resume, bad input."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time

import pytest
import yaml
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.engine.grid import parse_axis
from sliceflow.engine.sweep import SweepInterrupted, sweep
from tests.engine.sweep_helpers import assert_same_run, sweep_scenario

GRID = ["methods.swd.lr=0.5,1", "n_particles=12,20"]
runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A sweep of 4 points, each point's seeds in 2 shards, on 2 local processes."""
    root = tmp_path_factory.mktemp("sweep")
    path = sweep_scenario(root / "scenario.yaml")
    result = sweep(path, GRID, out=root / "out", max_parallel=2, shard_seeds=2)
    return path, result


def test_grid_values_are_read_like_set_values():
    assert parse_axis("methods.swd.lr=0.01,1e-1,1").values == (0.01, 0.1, 1)
    assert parse_axis("snapshots.steps=[0, 5],[0,10]").values == ([0, 5], [0, 10])
    assert parse_axis("methods.0.projection=linear,mlp").values == ("linear", "mlp")


@pytest.mark.slow
def test_every_point_equals_a_plain_run_of_its_settings(finished, tmp_path):
    path, result = finished
    assert result.states("completed") == [
        "methods.swd.lr=0.5,n_particles=12", "methods.swd.lr=0.5,n_particles=20",
        "methods.swd.lr=1,n_particles=12", "methods.swd.lr=1,n_particles=20",
    ]  # fmt: skip
    assert not (result.out_dir / ".shards").exists()  # merged, then removed
    for point in result.points:
        plain = tmp_path / point["name"]
        sliceflow.run(path, out=plain, overrides=point["values"], render=False)
        assert_same_run(plain, result.out_dir / point["name"])
        assert (result.out_dir / point["name"] / "trace.png").is_file()  # a normal run folder
    rows = (result.out_dir / "sweep.csv").read_text().splitlines()
    assert rows[0] == "point,methods.swd.lr,n_particles,method,median,q25,q75,first_below,seconds"
    assert len(rows) == 1 + 4 * 2
    summary = (result.out_dir / "methods.swd.lr=1,n_particles=20" / "summary.csv").read_text()
    last = [r for r in summary.splitlines() if r.startswith("swd,12,")][0].split(",")
    row = [r for r in rows if r.startswith('"methods.swd.lr=1,n_particles=20",1,20,swd,')][0]
    assert row.split(",")[5:8] == [last[5], last[4], last[6]]  # median, q25, q75 at the end


@pytest.mark.slow
def test_running_the_same_command_again_skips_finished_points(finished):
    path, result = finished
    before = {p: p.stat().st_mtime_ns for p in result.out_dir.rglob("trace.csv")}
    events = []
    again = sweep(path, GRID, out=result.out_dir, on_event=lambda *e: events.append(e[:2]))
    assert [kind for kind, _ in events] == ["skip"] * 4
    assert again.rows == result.rows
    assert {p: p.stat().st_mtime_ns for p in result.out_dir.rglob("trace.csv")} == before


@pytest.mark.slow
def test_best_and_report_of_a_sweep_folder(finished):
    path, result = finished
    listing = _invoke("report", result.out_dir)
    assert listing.exit_code == 0, listing.output
    assert "best setting per method" in listing.stdout
    assert "swd: methods.swd.lr=1, n_particles=" in listing.stdout
    for name in ("sweep.csv", "sweep.png", "sweep.md", "sweep.html"):
        assert (result.out_dir / name).is_file()
    assert '<img src="data:image/png;base64,' in (result.out_dir / "sweep.html").read_text()
    other = _invoke("sweep", path, *sum((["--grid", g] for g in GRID), []), "--set",
                    "steps=13", "--out", result.out_dir)  # fmt: skip
    assert other.exit_code == 2 and "another grid or scenario" in other.output


@pytest.mark.slow
def test_ctrl_c_and_a_lost_worker_lose_nothing_and_the_rerun_finishes(tmp_path):
    path = sweep_scenario(tmp_path / "scenario.yaml", methods=[{"method": "swd", "lr": 1.0}],
                          trace={"every": 50}, snapshots={"every": 500})  # fmt: skip
    grid = {"steps": [6000, 10]}  # the long point is submitted first

    def stop_after_first(kind, point, detail):
        if kind == "completed":  # once the long point has a checkpoint (its first snapshot)
            checkpoint = tmp_path / "out" / "steps=6000" / "checkpoint.pt"
            deadline = time.monotonic() + 60
            while not checkpoint.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver

    with pytest.raises(SweepInterrupted) as caught:
        sweep(path, grid, out=tmp_path / "out", max_parallel=2, on_event=stop_after_first,
              render=False)  # fmt: skip
    states = {p["name"]: p["state"] for p in caught.value.result.points}
    assert states == {"steps=6000": "interrupted", "steps=10": "completed"}
    record = yaml.safe_load((tmp_path / "out" / "sweep.yaml").read_text())
    assert [p["state"] for p in record["points"]] == ["interrupted", "completed"]

    def kill_workers(kind, point, detail):
        if kind == "start":  # SIGKILL every worker of the pool a moment after it got its point
            threading.Timer(1.0, lambda: [os.kill(child.pid, signal.SIGKILL)
                            for child in multiprocessing.active_children()]).start()  # fmt: skip

    events = []
    finished = sweep(path, grid, out=tmp_path / "out", max_parallel=2, render=False,
                     on_event=lambda *e: (events.append(e[0]), kill_workers(*e)))  # fmt: skip
    assert "skip" in events and finished.states("completed") == ["steps=6000", "steps=10"]
    for steps in (10, 6000):
        plain = tmp_path / f"plain{steps}"
        sliceflow.run(path, out=plain, steps=steps, render=False)
        assert_same_run(plain, tmp_path / "out" / f"steps={steps}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give at least one --grid"),
        (["--grid", "methods.swd.lrr=1,2"], "unknown path (did you mean 'methods.swd.lr'?)"),
        (["--grid", "methods.sdw.lr=1,2"], "unknown path (did you mean 'methods.swd.lr'?)"),
        (["--grid", "methods.swd.lr="], "give a path and at least one value"),
        (["--grid", "methods.swd.lr=1,1"], "a value is repeated"),
        (["--grid", "methods.swd.lr=0.5,-1"],
         "grid point methods.swd.lr=-1: "),
        (["--grid", "n_particles=10,20", "--grid", "methods.max_sw.inner_steps=3,-1"],
         "grid point n_particles=10,methods.max_sw.inner_steps=-1:"),
        (["--grid", "n_particles=" + ",".join(str(n) for n in range(10, 111))],
         "the grid has 101 points, more than 100; add --yes"),
        (["--grid", "output.gif=true,false"], "use --set"),
        (["--grid", "steps=1,2", "--executor", "spark"], "--executor 'spark': use local or ray"),
        (["--grid", "steps=1,2", "--shard-seeds", "0"], "--shard-seeds 0"),
        (["--grid", "steps=1,2", "--executor", "ray", "--address", "127.0.0.1:{port}"],
         "cannot connect"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_starts_nothing(tmp_path, args, message):
    path = sweep_scenario(tmp_path / "scenario.yaml")
    args = [a.replace("{port}", str(_free_port())) for a in args]
    result = _invoke("sweep", path, *args, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_without_ray_the_ray_executor_is_one_line_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray -> ImportError
    path = sweep_scenario(tmp_path / "scenario.yaml")
    result = _invoke("sweep", path, "--grid", "steps=1,2", "--executor", "ray", "--out",
                     tmp_path / "out")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        'error: --executor ray needs Ray, an optional extra: pip install -e ".[ray]" (or pip '
        "install ray)"
    )


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path):
    path = sweep_scenario(tmp_path / "scenario.yaml")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = _invoke("sweep", path, "--grid", "steps=1,2", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "is not a sweep folder" in result.output


@pytest.mark.slow
def test_a_damaged_sweep_record_is_one_line(finished, tmp_path):
    path, result = finished
    copy = tmp_path / "copy"
    shutil.copytree(result.out_dir, copy)
    (copy / "sweep.yaml").write_text("points: [unclosed\n")
    for args in (["report", copy], ["sweep", path, "--grid", "steps=1,2", "--out", copy]):
        outcome = _invoke(*args)
        lines = outcome.output.strip().splitlines()
        assert outcome.exit_code == 2 and len(lines) == 1 and "sweep.yaml" in lines[0], lines
