"""The command line: help, list, validate, run, and one clear line with exit code 2 on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from sliceflow.cli import app
from tests.helpers import small_scenario

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_and_list():
    assert _invoke("--help").exit_code == 0
    listing = _invoke("list")
    assert listing.exit_code == 0
    for name in ("swd", "max_sw", "two_moons", "uniform_cube", "euclidean"):
        assert name in listing.stdout


def test_run_writes_outputs(tmp_path, write_scenario):
    path = write_scenario(small_scenario(steps=10))
    result = _invoke("run", path, "--out", tmp_path / "out", "--no-progress", "--no-gif")
    assert result.exit_code == 0, result.output
    for name in ("trace.csv", "summary.csv", "particles.npz", "scenario.yaml"):
        assert (tmp_path / "out" / name).is_file()


def test_run_options_override_the_scenario(tmp_path, write_scenario):
    path = write_scenario(small_scenario(methods=[{"method": "swd"}, {"method": "max_sw"}]))
    result = _invoke(
        "run",
        path,
        "--out",
        tmp_path / "o",
        "--seeds",
        2,
        "--steps",
        3,
        "--methods",
        "max_sw",
        "--set",
        "methods.max_sw.inner_steps=2",
        "--no-gif",
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "o" / "trace.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 4 and all(line.startswith("max_sw") for line in lines[1:])
    assert "inner_steps: 2" in (tmp_path / "o" / "scenario.yaml").read_text()


BAD = {
    "unknown key": ({"stepz": 3}, "unknown key (did you mean 'steps'?)"),
    "unknown method": ({"methods": [{"method": "swdd"}]}, "did you mean 'swd'?"),
    "negative lr": ({"methods": [{"method": "swd", "lr": -0.1}]}, "methods[0].lr"),
    "unknown dataset": ({"target": {"dataset": "two_moon"}}, "did you mean 'two_moons'?"),
    "method key typo": (
        {"methods": [{"method": "swd", "n_projection": 3}]},
        "did you mean 'n_projections'?",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenarios_give_one_line_and_exit_code_2(case, write_scenario):
    changes, expected = BAD[case]
    scenario = small_scenario()
    scenario.update(changes)
    path = write_scenario(scenario)
    for command in ("run", "validate"):
        result = _invoke(command, path)
        assert result.exit_code == 2, result.output
        assert expected in result.output
        assert "Traceback" not in result.output
        assert str(path) in result.output


def test_yaml_syntax_error_names_the_line(write_scenario):
    path = write_scenario("name: x\nsteps: 3\nmethods: [swd\n")
    result = _invoke("run", path)
    assert result.exit_code == 2
    assert f"{path}:4: YAML syntax error" in result.output


def test_missing_file():
    result = _invoke("run", "does/not/exist.yaml")
    assert result.exit_code == 2 and "file not found" in result.output


def test_target_file_of_the_wrong_shape(tmp_path, write_scenario):
    np.save(tmp_path / "flat.npy", np.zeros(10))
    path = write_scenario(small_scenario(target={"file": "flat.npy"}))
    result = _invoke("run", path, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "has shape (10,); expected (samples, dimension)" in result.output


def test_target_file_is_used_for_every_seed(tmp_path, write_scenario):
    np.savetxt(tmp_path / "target.csv", np.random.RandomState(0).randn(40, 2), delimiter=",")
    path = write_scenario(small_scenario(steps=2, target={"file": "target.csv"}))
    result = _invoke("run", path, "--out", tmp_path / "o", "--no-gif")
    assert result.exit_code == 0, result.output
    target = np.load(tmp_path / "o" / "particles.npz")["target"]
    assert target.shape == (3, 40, 2) and np.array_equal(target[0], target[2])


def test_negative_steps_on_the_command_line(write_scenario):
    result = _invoke("run", write_scenario(small_scenario()), "--steps", -1)
    assert result.exit_code == 2 and "--steps -1" in result.output


def test_bad_set_option(write_scenario):
    result = _invoke("run", write_scenario(small_scenario()), "--set", "methods.nope.lr=1")
    assert result.exit_code == 2 and "no entry 'nope'" in result.output


def test_cuda_request_without_a_gpu(write_scenario, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = _invoke(
        "run", write_scenario(small_scenario()), "--device", "cuda", "--out", tmp_path / "o"
    )
    assert result.exit_code == 2 and "no CUDA device" in result.output


def test_sizes_that_cannot_be_allocated_are_one_line_for_validate_and_run(tmp_path, write_scenario):
    huge = small_scenario("flow_matching")
    huge["methods"][1] |= {"projection": "mlp", "hidden": [65536, 2**31 - 1]}
    path = write_scenario(huge)
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "out of memory" in lines[0] and "Traceback" not in result.output


class _Stopped:
    """What Ctrl-C leaves behind, as the commands read it."""

    def __init__(self, out_dir):
        self.out_dir, self.completed_steps = out_dir, {"swd": 7}

    def states(self, *wanted):
        return ["steps=10"] if "completed" in wanted else []


def test_an_interrupted_sweep_prints_the_command_that_continues_it(monkeypatch, tmp_path):
    import sliceflow.engine.sweep as engine_sweep

    def stopped(*args, **kwargs):
        raise engine_sweep.SweepInterrupted(_Stopped(tmp_path / "sw eep"))

    monkeypatch.setattr(engine_sweep, "sweep", stopped)
    result = _invoke("sweep", "s.yaml", "--grid", "steps=10,20", "--grid", "methods.swd.lr=1,2",
                     "--set", "seeds=2", "--executor", "ray", "--shard-seeds", 2,
                     "--yes")  # fmt: skip
    assert result.exit_code == 130
    assert result.output.strip() == (
        f"interrupted: 1 finished points kept in {tmp_path / 'sw eep'}; continue with: sliceflow "
        f"sweep s.yaml --out '{tmp_path / 'sw eep'}' --grid steps=10,20 --grid "
        "methods.swd.lr=1,2 --set seeds=2 --executor ray --shard-seeds 2 --yes"
    )


def test_an_interrupted_run_prints_the_command_that_continues_it(monkeypatch, tmp_path):
    import sliceflow.engine

    def stopped(*args, **kwargs):
        raise sliceflow.engine.RunInterrupted(_Stopped(tmp_path / "run"))

    monkeypatch.setattr(sliceflow.engine, "run", stopped)
    result = _invoke("run", "s.yaml", "--steps", 9, "--methods", "swd,max_sw", "--set", "seeds=2",
                     "--set", "methods.swd.lr=0.5", "--force", "--gif",
                     "--no-progress")  # fmt: skip
    assert result.exit_code == 130
    hint = result.output.strip().splitlines()[-1]
    assert hint == (
        f"interrupted: kept steps {{'swd': 7}} in {tmp_path / 'run'}; continue with: sliceflow "
        f"run s.yaml --out {tmp_path / 'run'} --steps 9 --methods swd,max_sw --set seeds=2 "
        "--set methods.swd.lr=0.5 --force --resume"
    )


def test_a_second_run_into_a_run_folder_is_refused_and_overwrite_replaces_it(
    tmp_path, write_scenario
):
    path = write_scenario(small_scenario(steps=3))
    out = tmp_path / "out"
    base = ["run", path, "--out", out, "--no-progress", "--no-gif"]
    assert _invoke(*base).exit_code == 0
    trace = (out / "trace.csv").read_bytes()
    again = _invoke(*base, "--steps", 2)
    assert again.exit_code == 2
    assert again.output.strip() == (
        f"error: {out} holds a finished run; use --overwrite to replace it, or choose another --out"
    )
    assert (out / "trace.csv").read_bytes() == trace
    replaced = _invoke(*base, "--steps", 2, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert len((out / "trace.csv").read_text().splitlines()) == 1 + 3 * 3
    both = _invoke(*base, "--overwrite", "--resume")
    assert both.exit_code == 2 and "give one of them" in both.output


@pytest.mark.parametrize(
    ("out", "message"),
    [("", "the current folder"), (".", "the current folder, one above it"),
     ("/dev/null", "is a file, not a folder"), ("/proc/sliceflow", "cannot create this folder"),
     ("scenario.yaml", "is a file, not a folder")],
)  # fmt: skip
def test_unusable_output_folders_are_one_line(out, message, tmp_path, write_scenario, monkeypatch):
    path = write_scenario(small_scenario(steps=3))
    monkeypatch.chdir(tmp_path)
    result = _invoke("run", path, "--out", out, "--no-progress", "--no-gif")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.yaml"]
