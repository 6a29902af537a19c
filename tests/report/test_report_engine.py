"""End to end with the engine: a tiny run renders every output; an interrupted one names its gap."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import sliceflow
from sliceflow.report import load_run, render_run
from sliceflow.rundir import read_summary, summary_from_trace
from tests.helpers import small_scenario

METHODS = [
    {"method": "swd", "lr": 1.0, "n_projections": 20},
    {"method": "max_sw", "lr": 1.0, "inner_steps": 2},
]


def _scenario(**changes):
    output = {"gif": True, "gif_frames": 5, "gif_size_px": 96, "gif_fps": 8}
    return small_scenario(steps=12, methods=METHODS, snapshots={"count": 7}, output=output,
                          **changes)  # fmt: skip


@pytest.mark.slow
def test_run_with_render_writes_every_output(tmp_path):
    out = tmp_path / "run"
    sliceflow.run(_scenario(), out=out, render=True)
    expected = ["trace.csv", "summary.csv", "particles.npz", "scenario.yaml", "trace.png"]
    expected += ["snapshots.png", "flow_swd.gif", "flow_max_sw.gif", "flows.gif"]
    expected += ["report.md", "report.html"]
    for name in expected:
        assert (out / name).is_file(), name
    assert Image.open(out / "flow_swd.gif").n_frames == 5
    assert Image.open(out / "flows.gif").size == (192, 96)
    # the report's fallback summary agrees with the engine's summary.csv
    run = load_run(out)
    assert run.warnings == []  # a run as the engine wrote it has no damage to read past
    engine = read_summary(out / "summary.csv")
    mine = summary_from_trace(run.traces)
    for label in ("swd", "max_sw"):
        assert [(r.step, r.n_seeds, r.n_diverged) for r in engine[label]] == [
            (r.step, r.n_seeds, r.n_diverged) for r in mine[label]
        ]
        np.testing.assert_allclose(
            [(r.q25, r.median, r.q75) for r in engine[label]],
            [(r.q25, r.median, r.q75) for r in mine[label]],
            rtol=1e-12,
        )


@pytest.mark.slow
def test_report_of_an_interrupted_engine_run_names_the_missing_steps(tmp_path):
    from sliceflow.engine import RunInterrupted

    def stop(label: str, step: int, total: int) -> None:
        if label == "max_sw" and step == 5:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        sliceflow.run(_scenario(), out=out, render=False, on_progress=stop)
    render_run(out)
    report = (out / "report.md").read_text()
    assert "## Interrupted run" in report
    assert "max_sw: stopped after step 5 of 12; steps 6-12 missing" in report
    assert "swd: stopped" not in report
    assert (out / "flows.gif").is_file() and (out / "flow_max_sw.gif").is_file()
    assert load_run(out).warnings == []


@pytest.mark.slow
@pytest.mark.parametrize("task", ["plan", "dictionary", "flow_matching"])
def test_a_finished_run_of_every_task_reads_back_without_a_warning(tmp_path, task):
    """The checks of scenario.yaml and of the tables refuse nothing the engine writes: a
    finished run of each task reads back whole (its report is rendered by tests/tasks)."""
    out = tmp_path / task
    sliceflow.run(small_scenario(task, output={"gif": False}), out=out, render=False)
    run = load_run(out)
    assert run.warnings == [] and run.summary_source == "summary.csv"
    assert run.labels == [m.get("label", m["method"]) for m in small_scenario(task)["methods"]]
