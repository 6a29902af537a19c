"""Values a scenario must not hold, refused at validation in one line naming the key (issue 21,
items 3, 5, 9, 14 and 17): non-finite floats, impossible sizes, out-of-range seeds, labels that
share a file name, run names that leave runs/."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.errors import RunDirError
from sliceflow.ot._config import SolverConfig
from sliceflow.rundir import OutputSettings
from sliceflow.rundir.layout import file_label
from sliceflow.scenario import ScenarioError, build_scenario
from sliceflow.scenario.bounds import INT_LIMIT
from tests.helpers import small_scenario

runner = CliRunner()


def refused(raw: dict, match: str) -> str:
    with pytest.raises(ScenarioError, match=match) as caught:
        build_scenario(raw)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"methods": [{"method": "swd", "lr": math.inf}]}, "methods[0].lr"),
        ({"methods": [{"method": "dgswp", "eps": math.inf}]}, "methods[0].eps"),
        ({"output": {"gif_fps": math.inf}}, "output.gif_fps"),
        ({"output": {"threshold": math.nan}}, "output.threshold"),
        ({"target": {"dataset": "two_moons", "noise": math.inf}}, "target.noise"),
        ({"trace": {"estimator": "sinkhorn", "blur": math.inf}}, "trace.blur"),
        ({"manifold": {"name": "poincare", "curvature": -math.inf}}, "manifold.curvature"),
    ],
    ids=["method", "solver", "gif_fps", "threshold", "dataset", "trace", "manifold"],
)
def test_non_finite_floats_are_refused_everywhere(change, where):
    if "manifold" in change:
        change |= {"source": {"dataset": "wrapped_normal"}, "target": {"dataset": "wrapped_normal"},
                   "methods": [{"method": "hhsw"}]}  # fmt: skip
    message = refused(small_scenario(**change), "finite number")
    assert f": {where}: " in message


def barycentre(targets: list[dict]) -> dict:
    raw = small_scenario(targets=targets)
    del raw["target"]
    return raw


def test_non_finite_weights_are_refused_and_huge_ones_normalise():
    targets = [{"dataset": "two_moons", "weight": 1e308}, {"dataset": "circle", "weight": 1e308}]
    scenario = build_scenario(barycentre(targets))
    assert scenario.target_weights() == [0.5, 0.5]  # their sum overflowed to inf: weights 0
    targets[1]["weight"] = math.inf
    message = refused(barycentre(targets), "finite number")
    assert ": targets[1].weight: " in message
    targets[1]["weight"] = 0.0
    refused(barycentre(targets), "greater than 0")


def test_ordinary_weights_normalise_as_before():
    weights = [0.5, 0.3, 0.2]
    targets = [{"dataset": "two_moons", "weight": w} for w in weights]
    scenario = build_scenario(barycentre(targets))
    total = sum(weights)
    assert scenario.target_weights() == [w / total for w in weights]  # bit for bit


def test_solver_settings_are_finite_from_python_too():
    class Settings(SolverConfig):
        tol: float = 1e-6

    with pytest.raises(ValueError, match="finite number"):
        Settings(tol=math.nan)


def test_an_integer_past_the_generic_bound_names_its_key():
    raw = small_scenario(methods=[{"method": "swd", "n_projections": 10**30}])
    message = refused(raw, f"larger than {INT_LIMIT}")
    assert ": methods[0].n_projections: a number of 31 digits is larger" in message


def test_the_particles_of_all_seeds_must_fit_a_machine():
    refused(small_scenario(seeds=100_000, n_particles=10_000_000), "at least 4 TiB of memory")


@pytest.mark.parametrize(
    ("output", "match"),
    [
        ({"gif_size_px": 10**30}, "gif_size_px"),
        ({"gif_size_px": 5000}, "less than or equal to 4096"),
        ({"gif_frames": 10**6}, "gif_frames"),
        ({"gif_fps": 1e9}, "less than or equal to 100"),
        ({"gif_frames": 1000, "gif_size_px": 4096}, "more than the 1073741824 a GIF"),
    ],
)
def test_output_sizes_are_bounded(output, match):
    refused(small_scenario(output=output), match)


def test_report_size_option_is_bounded_before_rendering():
    from sliceflow.report.style import resolve_options

    with pytest.raises(RunDirError, match="gif_size_px"):
        resolve_options({"output": {}}, gif_size_px=10**21)
    assert OutputSettings().gif_size_px == 480


def test_seeds_beyond_the_generators_name_seeds(write_scenario):
    message = refused(small_scenario(seeds=[0, 10**30]), "out of range")
    assert ": seeds[1]: seed 1000000000000000000000000000000 is out of range" in message
    assert build_scenario(small_scenario(seeds=[2**63 - 1])).seeds == [2**63 - 1]
    result = runner.invoke(app, ["validate", str(write_scenario(small_scenario(seeds=[2**64])))])
    assert result.exit_code == 2 and "seeds[0]: seed" in result.output


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["α", "β"], "both become '_' in file names"),
        (["a/b", "a_b"], "both become 'a_b'"),
        (["SWD", "swd"], "differ only in case"),
        (["a,b"], "holds a comma"),
        ([" swd"], "starts or ends with a space"),
        (["a\nb"], "control character"),
    ],
    ids=["greek", "slash", "case", "comma", "space", "newline"],
)
def test_labels_that_collide_as_file_names_or_escape_methods_are_refused(labels, match):
    methods = [{"method": "swd", "label": label} for label in labels]
    message = refused(small_scenario(methods=methods), match)
    assert f": methods[{len(labels) - 1}].label: " in message


def test_distinct_labels_pass_and_the_sanitiser_is_shared():
    methods = [{"method": "swd", "label": label} for label in ("swd", "swd-fast", "swd_0.1")]
    assert build_scenario(small_scenario(methods=methods)).labels == ["swd", "swd-fast", "swd_0.1"]
    assert file_label("a/b c") == "a_b_c"


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "x" * 200])
def test_run_names_stay_inside_runs(name):
    message = refused(small_scenario(name=name), "name")
    assert ": name: " in message
