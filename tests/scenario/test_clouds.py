"""The clouds of a scenario from its data files and datasets, through the CLI: every row kept,
one line naming the scenario's key, the file (as given and resolved) and the row, and points
checked as the run holds them (after the cast to the scenario's dtype)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from sliceflow.cli import app
from tests.helpers import small_scenario

runner = CliRunner()


def _validate(*paths):
    return runner.invoke(app, ["validate", *map(str, paths)])


def _one_line_error(result) -> str:
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(output.splitlines()) == 1 and output.startswith("error: "), output
    return output


def test_a_csv_target_with_a_byte_order_mark_keeps_its_first_row(tmp_path, write_scenario):
    (tmp_path / "target.csv").write_bytes(b"\xef\xbb\xbf1,2\n3,4\n5,6\n")
    path = write_scenario(small_scenario(steps=1, seeds=1, target={"file": "target.csv"}))
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--no-gif"])
    assert result.exit_code == 0, result.output
    target = np.load(out / "particles.npz")["target"][0]
    np.testing.assert_array_equal(target, [[1, 2], [3, 4], [5, 6]])


def test_a_bad_row_names_the_key_and_the_file_as_given_and_resolved(tmp_path, write_scenario):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "target.csv").write_text("x,y\n1,2\n3,oops\n")
    path = write_scenario(small_scenario(target={"file": "data/target.csv"}))
    message = _one_line_error(_validate(path))
    resolved = (tmp_path / "data" / "target.csv").resolve()
    assert f"target.file: 'data/target.csv' ({resolved}): line 3: '3,oops'" in message


@pytest.mark.parametrize("content, problem", [
    (b"", r"is empty \(0 bytes\)"),
    (np.array([[1 + 2j, 0], [1, 1]]), r"holds complex numbers \(dtype complex128\)"),
    (np.zeros(3, dtype=[("a", "f8"), ("b", "f8")]), "holds structured records"),
])  # fmt: skip
def test_a_bad_npy_is_one_line_and_validate_goes_on_to_the_next_file(tmp_path, content, problem):
    if isinstance(content, bytes):
        (tmp_path / "bad.npy").write_bytes(content)
    else:
        np.save(tmp_path / "bad.npy", content)
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text(yaml.safe_dump(small_scenario(target={"file": "bad.npy"})))
    good.write_text(yaml.safe_dump(small_scenario()))
    result = _validate(bad, good, bad)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in result.output and "Aborted" not in result.output
    assert lines[0] == lines[2] and lines[0].startswith("error: small: target.file: 'bad.npy'")
    assert re.search(problem, lines[0]) and lines[1].startswith("ok ")


@pytest.mark.parametrize("changes, key", [
    ({"n_particles": 1}, "n_particles"),
    ({"target": {"dataset": "two_moons", "n_samples": 1}}, "target.n_samples"),
    ({"source": {"dataset": "swiss_roll"}, "n_particles": 1}, "n_particles"),
])  # fmt: skip
def test_too_few_samples_for_a_standardised_dataset_names_the_key_and_the_minimum(
    write_scenario, changes, key
):
    message = _one_line_error(_validate(write_scenario(small_scenario(**changes))))
    assert f"small: {key}: dataset " in message and f"set {key} to at least 2" in message
    assert "not finite" not in message


def _ball_scenario(tmp_path, radius: float, dtype: str) -> dict:
    points = np.random.RandomState(0).uniform(-0.3, 0.3, (20, 2))
    points[7] = [radius, 0.0]
    np.save(tmp_path / "source.npy", points)
    return {
        "name": "ball", "manifold": "poincare", "dtype": dtype, "n_particles": 20, "steps": 2,
        "seeds": 1, "source": {"file": "source.npy"},
        "target": {"dataset": "wrapped_normal", "mean": [1.5, 1.25**0.5, 0.0], "cov": 0.1},
        "methods": [{"method": "hhsw", "lr": 1.0, "n_projections": 10}],
        "output": {"gif": False},
    }  # fmt: skip


def test_ball_points_that_float32_rounds_onto_the_boundary_are_refused(tmp_path, write_scenario):
    path = write_scenario(_ball_scenario(tmp_path, 1 - 1e-10, "float32"))
    message = _one_line_error(_validate(path))
    assert "ball: source: 'source.npy'" in message and "row 7 has norm 1 in float32" in message
    assert "set dtype: float64, or move the points inward" in message


def test_the_same_points_in_float64_and_float32_points_inside_once_rounded_are_accepted(
    tmp_path, write_scenario
):
    assert _validate(write_scenario(_ball_scenario(tmp_path, 1 - 1e-10, "float64"))).exit_code == 0
    assert _validate(write_scenario(_ball_scenario(tmp_path, 1 - 6e-8, "float32"))).exit_code == 0


def test_coordinates_that_overflow_float32_are_refused_naming_the_row(tmp_path, write_scenario):
    (tmp_path / "target.csv").write_text("1,2\n1e39,2\n3,3\n")
    path = write_scenario(small_scenario(dtype="float32", target={"file": "target.csv"}))
    message = _one_line_error(_validate(path))
    assert "row 1 is not finite in float32" in message and "set dtype: float64" in message
