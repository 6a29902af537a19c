"""Damaged run folders, fuzzed: `sliceflow report` and `sliceflow compare` exit 0 (with one-line
warnings) or 2 with one line; never a traceback, never a hang.

tests/test_fuzz.py flips and cuts the bytes of each file and also resumes; here the damage is
what a disk, an archive tool or a hand edit does to a folder's structure: a file replaced by a
link to /dev/zero, a folder, a named pipe or a huge file; cut or garbled at any byte;
scenario.yaml's values of the wrong type; trace.csv rows repeated, cut, of unknown methods or
seeds, or of negative steps. The size caps are lowered, so a huge file costs nothing.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.report import load_run
from sliceflow.report.tables import stats_table
from sliceflow.rundir import bounded
from tests.helpers import node_paths, small_scenario

runner = CliRunner()
FILES = ["trace.csv", "summary.csv", "metrics.csv", "particles.npz", "scenario.yaml"]
VALUES = [0, -1, 2.5, 1e300, math.nan, math.inf, "x", "a\nb", None, [], [1, "a"], {}, {"a": 1},
          True, 10**12, -(10**30)]  # fmt: skip
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
FUZZ = {"deadline": None, "derandomize": True, "database": None, "suppress_health_check": QUIET}
KINDS = ["cut", "garble", "delete", "empty", "folder", "huge", "dangling"]
KINDS += ["fifo"] if hasattr(os, "mkfifo") else []
KINDS += ["dev_zero"] if os.path.exists("/dev/zero") else []


@pytest.fixture(scope="module")
def template():
    """A finished two-method flow run with snapshots, read under small size caps."""
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(bounded, "MAX_CSV_BYTES", 2**16)
        patch.setattr(bounded, "MAX_YAML_BYTES", 2**16)
        patch.setattr(bounded, "MAX_NPZ_BYTES", 2**20)
        methods = [{"method": "swd", "lr": 1.0}, {"method": "max_sw", "lr": 1.0, "inner_steps": 2}]
        scenario = small_scenario(steps=6, seeds=2, methods=methods, snapshots={"count": 3})
        run_dir = Path(folder) / "run"
        sliceflow.run(scenario, out=run_dir, render=False)
        yield run_dir


def assert_clean(result) -> None:
    """Exit 0, or exit 2 with one line ``error: ...``; no traceback either way."""
    output = result.output.strip()
    assert result.exit_code in (0, 2), output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in output
    if result.exit_code == 2:
        assert len(output.splitlines()) == 1 and output.startswith("error:"), output


def report_and_compare(run_dir: Path, intact: Path) -> None:
    assert_clean(runner.invoke(app, ["report", str(run_dir), "--no-gif"]))
    out = run_dir.parent / "compare"
    assert_clean(runner.invoke(app, ["compare", str(intact), str(run_dir), "--out", str(out)]))


def damage(path: Path, kind: str, where: float, noise: bytes) -> None:
    """Replace the file at ``path`` (present or not) by one of the kinds of damage."""
    data = path.read_bytes() if path.is_file() else b""
    if path.exists() or path.is_symlink():
        path.unlink()
    at = int(where * len(data))
    if kind == "cut":
        path.write_bytes(data[:at])
    elif kind == "garble":
        path.write_bytes(data[:at] + noise + data[at + len(noise) :])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.truncate(2**30)  # sparse: a gigabyte on no disk
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")


@pytest.mark.slow
@settings(max_examples=20, **FUZZ)
@given(name=st.sampled_from(FILES), kind=st.sampled_from(KINDS),
       where=st.floats(0, 1), noise=st.binary(min_size=1, max_size=24))  # fmt: skip
def test_a_damaged_or_replaced_file_gives_exit_0_or_one_line(template, name, kind, where, noise):
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        shutil.copytree(template, run_dir)
        damage(run_dir / name, kind, where, noise)
        report_and_compare(run_dir, template)


@pytest.mark.slow
@settings(max_examples=20, **FUZZ)
@given(data=st.data())
def test_a_wrong_value_in_scenario_yaml_gives_exit_0_or_one_line(template, data):
    record = yaml.safe_load((template / "scenario.yaml").read_text())
    where = data.draw(st.sampled_from(node_paths(record)[1:]), label="path")  # not the root
    value = data.draw(st.sampled_from(VALUES), label="value")
    drop = data.draw(st.booleans(), label="drop")
    mutated = copy.deepcopy(record)
    parent = mutated
    for part in where[:-1]:
        parent = parent[part]
    if drop:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        shutil.copytree(template, run_dir)
        (run_dir / "scenario.yaml").write_text(yaml.safe_dump(mutated, sort_keys=False))
        assert_clean(runner.invoke(app, ["report", str(run_dir), "--no-gif"]))


BAD_ROWS = {  # a row that a report must drop, by what is wrong with it
    "duplicate": lambda rows, i: rows[i],
    "method": lambda rows, i: "ghost" + rows[i][rows[i].index(",") :],
    "seed": lambda rows, i: rows[i].replace(",", ",9", 1),
    "step": lambda rows, i: ",".join(
        p if k != 2 else "-" + p for k, p in enumerate(rows[i].split(","))
    ),  # fmt: skip
    "value": lambda rows, i: ",".join(
        p if k != 3 else "x" for k, p in enumerate(rows[i].split(","))
    ),  # fmt: skip
}


@pytest.mark.slow
@settings(max_examples=10, **FUZZ)
@given(bad=st.lists(st.tuples(st.sampled_from(sorted(BAD_ROWS)), st.integers(0, 10**6)),
                    min_size=1, max_size=6),
       order=st.randoms(use_true_random=False), cut=st.booleans())  # fmt: skip
def test_bad_trace_rows_are_dropped_and_the_rest_drawn_exactly(template, bad, order, cut):
    """Bad rows added anywhere (and the rows shuffled, the file possibly ending mid-row): the
    report warns once per kind and draws exactly what the intact run draws."""
    intact = load_run(template)
    header, *rows = (template / "trace.csv").read_text().splitlines(keepends=True)
    added = [BAD_ROWS[kind](rows, i % len(rows)) for kind, i in bad]
    lines = rows + added
    order.shuffle(lines)
    text = header + "".join(lines) + (rows[0][: len(rows[0]) // 2] if cut else "")
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        shutil.copytree(template, run_dir)
        (run_dir / "trace.csv").write_text(text)
        result = runner.invoke(app, ["report", str(run_dir), "--no-gif"])
        assert_clean(result)
        assert result.exit_code == 0, result.output
        run = load_run(run_dir)
    kinds = {kind if kind != "value" else "malformed" for kind, _ in bad} | (
        {"cut"} if cut else set())  # fmt: skip
    assert len(run.warnings) == len(kinds), run.warnings
    assert all("\n" not in line for line in run.warnings)
    assert stats_table(run, -1.0) == stats_table(intact, -1.0)
    for label, trace in intact.traces.items():
        assert run.traces[label].value.tolist() == trace.value.tolist()
        assert run.traces[label].steps.tolist() == trace.steps.tolist()
