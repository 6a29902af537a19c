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
