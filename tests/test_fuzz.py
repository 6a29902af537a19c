"""User input is fuzzed: mutated scenario files and damaged run folders, fed to the CLI.

Every outcome must be exit code 0, or exit code 2 with one line on the terminal; never a
traceback, and a refused ``--resume`` overwrites nothing.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sliceflow.cli import app
from tests.helpers import SCENARIOS, node_paths, small_scenario

runner = CliRunner()
SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))
VALUES = [0, -1, 2.5, 1e300, float("nan"), "x", None, [], [1, "a"], {}, {"a": 1}, True, 10**12]
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def mutate(tree, path: tuple, operation: str, value):
    """A copy of ``tree`` with the node at ``path`` replaced, dropped, or given an unknown key."""
    tree = copy.deepcopy(tree)
    if not path:
        return value if operation == "replace" else tree
    parent = tree
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if operation == "replace":
        parent[last] = value
    elif operation == "drop":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last]["not_a_key"] = value
    else:
        parent[last] = {"not_a_key": value}
    return tree


def assert_clean(result, allowed=(0, 2)) -> None:
    output = result.output.strip()
    assert result.exit_code in allowed, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in output
    if result.exit_code == 2:
        assert len(output.splitlines()) == 1 and output.startswith("error:"), output


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
@FUZZ
@given(data=st.data())
def test_mutated_scenarios_validate_to_exit_0_or_one_line(path, data):
    tree = yaml.safe_load(path.read_text())
    where = data.draw(st.sampled_from(node_paths(tree)), label="path")
    operation = data.draw(st.sampled_from(["replace", "drop", "add"]), label="operation")
    value = data.draw(st.sampled_from(VALUES), label="value")
    mutated = mutate(tree, where, operation, value)
    assert_clean(validate(path, mutated))


def validate(path: Path, tree):
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / path.name
        target.write_text(yaml.safe_dump(tree, sort_keys=False))
        for data_file in path.parent.glob("*.npy"):  # scenarios may name data files
            shutil.copy(data_file, folder)
        return runner.invoke(app, ["validate", str(target)])


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_every_mapping_replaced_by_a_number_or_a_list_gives_one_line(path):
    """Not left to chance: each mapping of each shipped scenario in turn becomes 2.5, then
    [1, 'a'] (e.g. a JKO functional term given as a number)."""
    tree = yaml.safe_load(path.read_text())
    mappings = [p for p in node_paths(tree) if p and isinstance(_node(tree, p), dict)]
    for where in mappings:
        for value in (2.5, [1, "a"]):
            result = validate(path, mutate(tree, where, "replace", value))
            assert result.exit_code == 2, (where, value)
            assert_clean(result)


def _node(tree, path):
    for part in path:
        tree = tree[part]
    return tree


# -- damaged run folders ------------------------------------------------------------------------
def damaged(data: bytes, how: str, noise: bytes) -> bytes | None:
    if how == "delete":
        return None
    if how == "empty":
        return b""
    if how == "truncate":
        return data[: len(data) // 2]
    if how == "garbage":
        return noise
    middle = len(data) // 2  # flip: overwrite bytes in the middle
    return data[:middle] + bytes(b ^ 0xFF for b in noise[:16]) + data[middle + 16 :]


FOREIGN = {
    ".csv": b"a,b\n1,2\n",
    ".yaml": b"- just\n- a list\n",
    ".md": b"# not a report\n",
    ".html": b"<html></html>\n",
}


def foreign(name: str) -> bytes:
    """Well-formed content of another kind for a file of the run folder."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    if name.endswith(".pt"):
        torch.save({"scenario": "someone else's"}, buffer)
    elif name.endswith(".npz"):
        np.savez(buffer, steps=np.array([0.5]), target=np.zeros(3), other=np.ones((2, 2)))
    elif name == "scenario.yaml":
        return b"name: x\nsteps: many\nseeds: 5\nrun: {completed_steps: {swd: abc}, trace: 7}\n"
    else:
        return FOREIGN.get(Path(name).suffix, b"\x00\x01")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template")
    methods = [{"method": "swd", "lr": 1.0}, {"method": "max_sw", "lr": 1.0, "inner_steps": 2}]
    scenario = folder / "scenario_in.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario(steps=8, seeds=2, methods=methods)))
    result = runner.invoke(app, ["run", str(scenario), "--out", str(folder / "run"), "--no-gif",
                                 "--jobs", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return scenario, folder / "run"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["trace.csv", "summary.csv", "particles.npz", "scenario.yaml",
                          "checkpoint.pt", "report.md", "trace.png"]),
    how=st.sampled_from(["delete", "empty", "truncate", "garbage", "flip", "foreign"]),
    noise=st.binary(min_size=16, max_size=64),
)  # fmt: skip
def test_damaged_run_folders_give_exit_0_or_one_line(template, name, how, noise):
    damage_and_check(*template, name, how, noise)


@pytest.fixture(scope="module")
def dictionary_template(tmp_path_factory):
    """A finished dictionary-learning run (task: dictionary) with its extra table weights.csv."""
    folder = tmp_path_factory.mktemp("dictionary")
    scenario = folder / "scenario_in.yaml"
    data = {"dataset": "gaussian_barycenters", "n_bins": 16, "n_data": 5}
    methods = [{"method": "wdl", "n_atoms": 3, "reg": 0.01, "n_iter": 5}]
    scenario.write_text(yaml.safe_dump({"name": "wdl", "task": "dictionary", "steps": 6,
                                        "seeds": 2, "data": data, "methods": methods,
                                        "snapshots": {"every": 2}, "shown": 2}))  # fmt: skip
    result = runner.invoke(app, ["run", str(scenario), "--out", str(folder / "run"), "--no-gif"])
    assert result.exit_code == 0, result.output
    return scenario, folder / "run"


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["trace.csv", "weights.csv", "particles.npz", "scenario.yaml",
                          "checkpoint.pt", "metrics.csv"]),
    how=st.sampled_from(["delete", "empty", "truncate", "garbage", "flip", "foreign"]),
    noise=st.binary(min_size=16, max_size=64),
)  # fmt: skip
def test_damaged_dictionary_runs_give_exit_0_or_one_line(dictionary_template, name, how, noise):
    damage_and_check(*dictionary_template, name, how, noise)


def damage_and_check(scenario: Path, original: Path, name: str, how: str, noise: bytes) -> None:
    """Damage one file of a copy of ``original``; ``--resume`` and ``report`` must stay clean."""
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        shutil.copytree(original, run_dir)
        path = run_dir / name
        content = foreign(name) if how == "foreign" else damaged(path.read_bytes(), how, noise)
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        before = _snapshot(run_dir)
        resumed = runner.invoke(app, ["run", str(scenario), "--out", str(run_dir), "--resume",
                                      "--no-gif", "--no-progress", "--jobs", "1"])  # fmt: skip
        assert_clean(resumed)
        if resumed.exit_code == 2:
            assert _snapshot(run_dir) == before  # a refused resume overwrites nothing
        assert_clean(runner.invoke(app, ["report", str(run_dir), "--no-gif"]))
