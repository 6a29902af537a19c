"""Per-task reports are registered by task name; any other task gets the generic trace report."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from sliceflow.report import load_run, render_run
from sliceflow.report.tables import scenario_table
from sliceflow.report.tasks import REPORTS, TaskReport, task_report
from sliceflow.tasks import TASKS
from tests.report.test_report_synthetic import write_run

GENERIC_FILES = {"trace.png", "metrics_mean_norm.png", "report.md", "report.html"}


def _set_run(run_dir, **run_info) -> None:
    path = run_dir / "scenario.yaml"
    scenario = yaml.safe_load(path.read_text())
    scenario["run"].update(run_info)
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))


def test_each_report_is_registered_under_a_task_name():
    REPORTS.load()
    TASKS.load()
    assert set(REPORTS) == {"flow", "plan", "dictionary", "flow_matching"}
    assert set(REPORTS) <= set(TASKS)
    for name, cls in REPORTS.items():
        assert issubclass(cls, TaskReport) and cls.name == name
        assert isinstance(task_report(name), cls)


@pytest.mark.parametrize("task", ["trace", "gif", "style", "tables", "base", "no such task"])
def test_a_task_with_no_registered_report_gets_the_generic_report(tmp_path, task):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    _set_run(run_dir, task=task)
    assert type(task_report(task)) is TaskReport
    written = render_run(run_dir, gif=False)
    assert {path.name for path in written} == GENERIC_FILES
    assert f"| task | {task} |" in (run_dir / "report.md").read_text()


def test_the_flow_report_adds_the_snapshots(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    written = {path.name for path in render_run(run_dir, gif=False)}
    assert written == GENERIC_FILES | {"snapshots.png"}


def test_the_scenario_table_names_the_manifold(tmp_path):
    rows = dict(scenario_table(load_run(write_run(tmp_path / "run", manifold="poincare"))))
    assert rows["manifold"] == "poincare (curvature=-1.0)"
    rows = dict(scenario_table(load_run(write_run(tmp_path / "flat", manifold="euclidean"))))
    assert rows["manifold"] == "euclidean"


def test_a_recorded_drawing_is_drawn_without_asking_the_geometry(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3, manifold="poincare")
    _set_run(run_dir, drawing={"boundary_radius": 1.0, "extent": 1.03, "distance": "geodesic W2^2"})
    code = (
        "import sys; from sliceflow.report import render_run; "
        f"render_run({str(run_dir)!r}, gif=False); "
        "print('torch' in sys.modules, 'sliceflow.manifolds' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert load_run(run_dir).drawing["distance"] == "geodesic W2^2"
    assert "geodesic W2^2" in load_run(run_dir).schema.description
