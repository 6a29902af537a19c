"""`sliceflow report` and `compare` over damaged run folders: one line and exit 2, or the
consistent part drawn with one warning line per kind of damage; never a traceback or a hang."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.errors import RunDirError
from sliceflow.report import load_run, render_run
from sliceflow.report.snapshots import column_indices
from sliceflow.report.tables import missing_lines, scenario_table, stats_table
from tests.report.test_report_synthetic import write_run

runner = CliRunner()


def report(run_dir, *options):
    return runner.invoke(app, ["report", str(run_dir), "--no-gif", *options])


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0].removeprefix("error: ")


def edit_scenario(run_dir, change) -> None:
    path = run_dir / "scenario.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_run_section_that_is_not_a_mapping_is_one_line(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    edit_scenario(run_dir, lambda data: data.update(run="x"))
    assert one_error_line(report(run_dir)) == (
        f"{run_dir / 'scenario.yaml'}: run is 'x', not a mapping of keys; re-run the scenario "
        "to rewrite it"
    )


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_trace_that_is_a_link_to_dev_zero_is_refused_at_once(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    (run_dir / "trace.csv").unlink()
    (run_dir / "trace.csv").symlink_to("/dev/zero")
    message = one_error_line(report(run_dir))  # it used to read forever
    assert message.startswith(f"{run_dir / 'trace.csv'}: a device, not a file sliceflow wrote")


def test_damaged_trace_rows_are_warned_one_line_each_and_the_rest_drawn(tmp_path):
    intact = load_run(write_run(tmp_path / "intact", steps=6, every=1, n_snapshots=3))
    run_dir = write_run(tmp_path / "run", steps=6, every=1, n_snapshots=3)
    path = run_dir / "trace.csv"
    lines = path.read_text().splitlines(keepends=True)
    extra = [lines[1], lines[2], "ghost,0,1,1.0,1.0,0.1\r\n", "swd,0,-4,1.0,1.0,0.1\r\n"]
    path.write_text("".join(lines + extra) + lines[3][:12])  # ends mid-row
    result = report(run_dir)
    assert result.exit_code == 0, result.output
    expected = [
        "2 duplicated row(s) dropped (first: line 44)",
        "1 row(s) of a method scenario.yaml does not declare ignored (first: line 46: method "
        "'ghost')",
        "1 row(s) with a step that is not a whole number in the run's range dropped (first: "
        "line 47: step '-4')",
        "a last row cut short by the end of the file dropped (line 48)",
    ]
    run = load_run(run_dir)
    assert run.warnings == [f"{path}: {line}" for line in expected]
    printed = [line for line in result.output.splitlines() if str(path) in line]
    assert [line.split(": ", 1)[1] for line in printed] == run.warnings  # one line each
    assert all(line.startswith("damaged file: ") for line in printed)  # not "interrupted run"
    assert stats_table(run, -1.0) == stats_table(intact, -1.0)  # drawn from the rows that fit
    assert {label: t.value.tolist() for label, t in run.traces.items()} == {
        label: t.value.tolist() for label, t in intact.traces.items()
    }
    document = (run_dir / "report.md").read_text()
    assert "## Damaged files" in document and all(w in document for w in run.warnings)
    assert missing_lines(run) == run.warnings  # what `sliceflow report` prints on stderr
    assert (run_dir / "trace.png").is_file() and (run_dir / "snapshots.png").is_file()


def test_a_trace_missing_rows_the_record_says_were_run_is_warned(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, every=1, n_snapshots=3)
    path = run_dir / "trace.csv"
    kept = [line for line in path.read_text().splitlines(keepends=True)
            if not line.startswith("max_sw") or int(line.split(",")[2]) <= 3]  # fmt: skip
    path.write_text("".join(kept))
    assert load_run(run_dir).warnings == [
        f"{path}: method 'max_sw' is traced up to step 3, but scenario.yaml says it completed "
        "step 6: rows are missing"
    ]


def test_compare_over_a_damaged_folder_warns_in_its_table(tmp_path):
    good = write_run(tmp_path / "good", steps=6, every=1, n_snapshots=3)
    bad = write_run(tmp_path / "bad", steps=6, every=1, n_snapshots=3)
    (bad / "summary.csv").write_text((bad / "summary.csv").read_text() + "swd,2,3,0,x,0,0\n")
    result = runner.invoke(app, ["compare", str(good), str(bad), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    compared = (tmp_path / "c" / "compare.md").read_text()
    assert "complete, damaged files" in compared
    assert "damaged file: bad: " in result.output  # on stderr too, a line each
    assert f"- bad: {bad / 'summary.csv'}: damaged, so the summary was recomputed" in compared
    from sliceflow.report.compare import compare_runs

    warnings = compare_runs([good, bad], out=tmp_path / "c").warnings
    assert warnings == [f"bad: {line}" for line in load_run(bad).warnings] and len(warnings) == 2
    edit_scenario(bad, lambda data: data["run"].update(completed_steps=[1]))
    message = one_error_line(runner.invoke(app, ["compare", str(good), str(bad)]))
    assert message.startswith(f"{bad / 'scenario.yaml'}: run.completed_steps is [1], not a")


def test_a_bad_saved_output_option_names_scenario_yaml_and_the_option(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    edit_scenario(run_dir, lambda data: data["output"].update(format="exe"))
    message = one_error_line(report(run_dir))
    assert message.startswith(f"{run_dir / 'scenario.yaml'}: output.format is 'exe': ")
    assert message.endswith("give a valid value there or pass --format")
    assert report(run_dir, "--format", "png").exit_code == 0  # the option given wins


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"swd": np.zeros(3)}, "array 'swd' has shape (3,), not (snapshots, 3, ..., 2)"),
        ({"swd": np.zeros((3, 3, 30, 1))}, "array 'swd' has shape (3, 3, 30, 1)"),
        ({"target": np.zeros(3)}, "array 'target' (shape (3,)) is not points (seeds, n, d)"),
        ({"steps": np.array([0.5, 1, 2])}, "array 'steps' (shape (3,)) is not a list of whole"),
        ({"seeds": np.zeros(7, int)}, "array 'seeds' (shape (7,)) is not one whole number per"),
        ({"swd": np.ones((3, 3, 30, 2), complex)}, "array 'swd' holds complex128 values"),
    ],
    ids=["1-D", "wrong d", "target", "steps", "seeds", "complex"],
)
def test_particles_of_the_wrong_shape_are_one_line(tmp_path, arrays, problem):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    saved = dict(np.load(run_dir / "particles.npz"))
    np.savez(run_dir / "particles.npz", **{**saved, **arrays})
    message = one_error_line(report(run_dir))
    assert message.startswith(f"{run_dir / 'particles.npz'}: {problem}"), message


def test_a_run_recorded_as_a_plan_without_plan_columns_is_one_line(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    edit_scenario(run_dir, lambda data: data["run"].update(task="plan"))
    assert one_error_line(report(run_dir)).startswith(
        f"{run_dir / 'trace.csv'}: no plan_cost column, which a plan run traces"
    )


def test_one_dimensional_particles_are_drawn_on_a_line(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3, dim=1, metrics=False)
    names = {p.name for p in render_run(run_dir, gif=True, gif_frames=2, gif_size_px=64)}
    assert {"snapshots.png", "flow_swd.gif", "flows.gif"} <= names


def test_gif_frames_beyond_the_snapshots_cost_nothing():
    assert column_indices(5, 10**12).tolist() == [0, 1, 2, 3, 4]
    assert column_indices(11, 4).tolist() == [0, 3, 7, 10]


def test_the_scenario_table_names_the_manifold_the_engine_records(tmp_path):
    """Item 18: the engine writes ``manifold: {name: poincare, curvature: -1.0, step_map:
    expmap}``; the table shows that name, not a '?'."""
    from sliceflow.engine import resolve_scenario
    from tests.helpers import small_scenario

    scenario = resolve_scenario(small_scenario(manifold={"name": "poincare"}, source={
        "dataset": "wrapped_normal", "mean": [1.0, 0.0, 0.0], "cov": 1.0}, target={
        "dataset": "wrapped_normal", "mean": [1.5, 1.118033988749895, 0.0], "cov": 0.1},
        methods=[{"method": "hhsw", "lr": 1.0}])).to_dict()  # fmt: skip
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    (tmp_path / "trace.csv").write_text("method,seed,step,loss,w2sq,elapsed_s\nhhsw,0,0,1,1,0\n")
    run = load_run(tmp_path)
    rows = dict(scenario_table(run))
    assert rows["manifold"] == "poincare (curvature=-1.0, step_map=expmap)"
    assert "?" not in rows["manifold"]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("", None),
        ("swd,0,6,1,0,0.2", "damaged: a last row cut short by the end of the file (line 4)"),
        ("swd,0,6,-5,0,0.5\n", "damaged: 1 malformed row(s) (first: line 4: datum '-5' is not"),
        ("ghost,0,6,1,0,0.5\n", "damaged: 1 row(s) of a method scenario.yaml does not declare"),
        ("swd,0,6,999999,0,0.5\n", "method 'swd' has 3 weights for 1000000 data x 2 atoms"),
    ],
    ids=["valid", "cut", "negative", "method", "sparse"],
)
def test_a_task_table_is_read_whole_or_refused_in_one_line(tmp_path, extra, problem):
    from sliceflow.report.tasks.dictionary import read_weights

    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    rows = "method,seed,step,datum,atom,weight\nswd,0,6,0,0,0.25\nswd,0,6,0,1,0.75\n"
    (run_dir / "weights.csv").write_text(rows + extra)
    if problem is None:
        assert read_weights(load_run(run_dir), 0)["swd"].tolist() == [[0.25, 0.75]]
        return
    with pytest.raises(RunDirError) as error:
        read_weights(load_run(run_dir), 0)
    assert str(error.value).startswith(f"{run_dir / 'weights.csv'}: {problem}")


def test_a_sampling_table_with_an_unknown_solver_is_one_line(tmp_path):
    from sliceflow.report.tasks.flow_matching import read_sampling

    run_dir = write_run(tmp_path / "run", steps=6, n_snapshots=3)
    rows = "method,seed,solver,steps,nfe,w2sq\nswd,0,euler,4,4,0.5\nswd,0,dopri5,0,38,0.25\n"
    (run_dir / "sampling.csv").write_text(rows)
    scores = read_sampling(load_run(run_dir))["swd"]
    assert [(s.name, s.w2sq.tolist()) for s in scores] == [("Euler 4", [0.5]),
                                                            ("Dormand-Prince", [0.25])]  # fmt: skip
    (run_dir / "sampling.csv").write_text(rows + "swd,1,rk4,4,4,0.5\n")
    with pytest.raises(RunDirError, match=r"damaged: 1 malformed row\(s\) \(first: line 4: solver"):
        read_sampling(load_run(run_dir))
