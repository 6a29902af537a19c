"""Ctrl-C on a real `sliceflow run` process: exit 130, complete files, a report, then --resume."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from tests.helpers import small_scenario


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_results_and_the_printed_command_finishes_the_run(tmp_path, write_scenario,
                                                                     jobs):  # fmt: skip
    methods = [{"method": "max_sw", "lr": 1.0, "inner_steps": 20}, {"method": "swd", "lr": 1.0}]
    path = write_scenario(small_scenario(steps=10, methods=methods, snapshots={"every": 100}))
    out = tmp_path / "out"
    # command-line overrides: the printed hint must repeat them to continue the same scenario
    command = [sys.executable, "-m", "sliceflow", "run", str(path), "--out", str(out),
               "--steps", "3000", "--set", "methods.swd.lr=0.5", "--no-progress", "--no-gif",
               "--jobs", jobs]  # fmt: skip
    env = {**os.environ, "MPLBACKEND": "Agg"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               text=True)  # fmt: skip
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    lines = (out / "trace.csv").read_text().splitlines()
    assert lines[0] == "method,seed,step,loss,w2sq,elapsed_s" and len(lines) > 1
    assert all(len(line.split(",")) == 6 for line in lines)  # no half-written row
    assert "missing" in (out / "report.md").read_text()

    hint = shlex.split(stderr.split("continue with: ")[1].strip())
    assert hint[:2] == ["sliceflow", "run"] and hint[-1] == "--resume"
    resumed = subprocess.run([sys.executable, "-m", "sliceflow", *hint[1:]], capture_output=True,
                             text=True, env=env, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    trace = np.genfromtxt(out / "trace.csv", delimiter=",", names=True, dtype=None,
                          encoding=None)  # fmt: skip
    assert len(trace) == 2 * 3 * 3001


# -- SIGTERM, a second Ctrl-C, and no worker left behind ---------------------------------------
# The run starts through `python -c` with the engine's flush interval shortened, so the first
# files appear after the first steps instead of after 10 s (the files, not the numbers, differ).
START = ("import sys; import sliceflow.engine.book as book; book.FLUSH_SECONDS = 0.2; "
         "from sliceflow.cli import app; app(sys.argv[1:], prog_name='sliceflow')")  # fmt: skip
ENV = {**os.environ, "MPLBACKEND": "Agg"}


def _start(*args):
    command = [sys.executable, "-c", START, *(str(a) for a in args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                            text=True)  # fmt: skip


def _wait_for(path, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), path


def _children(pid):
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _all_end(pids, seconds=20):
    deadline = time.time() + seconds
    while any(map(_alive, pids)) and time.time() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _long_run(write_scenario, tmp_path, jobs):
    methods = [{"method": "swd", "lr": 1.0}, {"method": "swd", "lr": 0.5, "label": "half"}]
    path = write_scenario(small_scenario(steps=50000, methods=methods, snapshots={"every": 5000}))
    return ["run", path, "--out", tmp_path / "out", "--no-progress", "--no-gif", "--jobs", jobs]


linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.mark.slow
@linux
def test_sigterm_is_a_ctrl_c_and_no_worker_outlives_the_run(tmp_path, write_scenario):
    process = _start(*_long_run(write_scenario, tmp_path, 2))
    _wait_for(tmp_path / "out" / "checkpoint.pt")
    workers = _children(process.pid)
    assert len(workers) >= 2  # two methods on two workers (and multiprocessing's helper)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert "missing" in (tmp_path / "out" / "report.md").read_text()  # rendered what it could
    assert _all_end(workers, seconds=5) == []


@pytest.mark.slow
@linux
def test_workers_end_with_a_killed_parent(tmp_path, write_scenario):
    process = _start(*_long_run(write_scenario, tmp_path, 2))
    _wait_for(tmp_path / "out" / "checkpoint.pt")
    workers = _children(process.pid)
    process.kill()  # SIGKILL: no handler runs in the parent
    process.communicate(timeout=60)
    assert _all_end(workers) == []


@pytest.mark.slow
def test_a_second_ctrl_c_while_the_files_are_written_loses_nothing(tmp_path, write_scenario):
    from sliceflow.rundir import read_checkpoint

    process = _start(*_long_run(write_scenario, tmp_path, 1))
    out = tmp_path / "out"
    _wait_for(out / "checkpoint.pt")
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "continue with: " in stderr and "Traceback" not in stderr
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no half-written file
    lines = (out / "trace.csv").read_text().splitlines()
    assert len(lines) > 1 and all(len(line.split(",")) == 6 for line in lines)
    saved = read_checkpoint(out / "checkpoint.pt")
    done = yaml.safe_load((out / "scenario.yaml").read_text())["run"]["completed_steps"]
    assert done == {"swd": saved["completed"]["swd"], "half": -1} and done["swd"] >= 0


@pytest.mark.slow
@linux
@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_a_stopped_sweep_driver_leaves_no_worker(tmp_path, write_scenario, stop):
    path = write_scenario(small_scenario(steps=50000, snapshots={"every": 5000}))
    out = tmp_path / "sweep"
    process = _start("sweep", path, "--grid", "methods.swd.lr=1", "--out", out)
    _wait_for(out / "methods.swd.lr=1" / ".sliceflow.lock")  # its unit has claimed its folder
    time.sleep(1.0)  # and is computing
    workers = _children(process.pid)
    process.send_signal(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=180)
    if stop == "sigterm":
        assert process.returncode == 130, stderr
        assert "continue with: sliceflow sweep" in stderr and "Traceback" not in stderr
        record = yaml.safe_load((out / "sweep.yaml").read_text())
        assert {p["state"] for p in record["points"]} == {"interrupted"}
    assert _all_end(workers, seconds=60) == []
    assert (out / "methods.swd.lr=1" / "checkpoint.pt").is_file()  # written on its way out
    assert not (out / "methods.swd.lr=1" / ".sliceflow.lock").exists()
