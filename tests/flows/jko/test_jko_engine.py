"""End to end: the JKO scenarios through ``sliceflow.run`` (small step counts)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import sliceflow
from tests.helpers import SCENARIOS


def test_jko_two_moons_next_to_swd(tmp_path):
    """JKO toward the target samples: F = 1/2 SW2^2 decreases and the exact W2^2 to the target
    falls far below SWD's after 15 steps (an implicit step of size tau = 0.5 vs lr 0.01)."""
    overrides = {"methods.jko_sw.inner_steps": 20, "output.gif": False}
    result = sliceflow.run(
        SCENARIOS / "jko_two_moons.yaml", out=tmp_path, seeds=2, steps=15,
        overrides=overrides, render=False,
    )  # fmt: skip
    assert list(result.trace_steps) == list(range(16))
    jko, swd = result.w2sq("jko_sw"), result.w2sq("swd")
    assert np.all(np.isfinite(jko)) and np.all(jko[:, -1] < 0.1 * swd[:, -1])
    loss = result.loss("jko_sw")  # F = 1/2 SW2^2 on fixed directions: decreasing per seed
    assert np.all(np.diff(loss, axis=1) <= 1e-6)
    with open(tmp_path / "trace.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["method"] == "jko_sw"]
    assert len(rows) == 2 * 16


@pytest.mark.slow
def test_jko_fokker_planck_writes_the_closed_form_distance(tmp_path):
    """metrics.csv carries w2sq_ou_gaussian for every seed and traced step, small at the end."""
    result = sliceflow.run(
        SCENARIOS / "jko_fokker_planck.yaml", out=tmp_path, seeds=2, steps=6,
        overrides={"methods.jko_particles.inner_steps": 30, "n_particles": 200}, render=False,
    )  # fmt: skip
    with open(tmp_path / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["name"] == "w2sq_ou_gaussian"]
    assert {(int(r["seed"]), int(r["step"])) for r in rows} == {
        (s, k) for s in (0, 1) for k in range(7)
    }
    final = [float(r["value"]) for r in rows if int(r["step"]) == 6]
    assert max(final) < 0.02
    assert np.all(np.isfinite(result.loss("jko_particles")))
