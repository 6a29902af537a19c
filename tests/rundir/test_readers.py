"""The readers of a run folder: special files refused, sizes bounded, scenario.yaml checked field
by field, damaged table rows dropped with one warning line each, archives checked before read."""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from sliceflow.errors import RunDirError
from sliceflow.rundir import TraceSchema, bounded, read_npz, read_scenario, read_trace
from sliceflow.rundir.readers import read_record
from sliceflow.rundir.rows import Expected
from sliceflow.rundir.traces import read_metrics_file, read_summary_file, read_trace_file

HEADER = "method,seed,step,loss,w2sq,elapsed_s\n"
ROWS = ["swd,0,0,1.5,2.5,0.01\n", "swd,1,0,1.25,2.25,0.01\n", "swd,0,1,0.5,1.5,0.02\n",
        "swd,1,1,0.25,1.25,0.02\n"]  # fmt: skip
EXPECT = Expected(labels=frozenset({"swd"}), seeds=frozenset({0, 1}), steps=1)
posix = pytest.mark.skipif(os.name != "posix", reason="named pipes and /dev/zero are POSIX")


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# -- special files and sizes --------------------------------------------------------------------
@posix
@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.symlink_to("/dev/zero"), "a device"),
        (lambda p: os.mkfifo(p), "a named pipe"),
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: p.symlink_to(p.parent / "absent"), "a symbolic link to a missing file"),
    ],
)
def test_a_special_file_is_refused_before_it_is_read(tmp_path, make, kind):
    path = tmp_path / "trace.csv"
    make(path)
    with pytest.raises(RunDirError) as error:  # /dev/zero was read forever, a pipe blocks
        read_trace_file(path, TraceSchema())
    assert one_line(error).startswith(f"{path}: {kind}")


def test_a_file_over_the_cap_is_refused_by_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_CSV_BYTES", 1000)
    path = tmp_path / "trace.csv"
    with path.open("wb") as handle:
        handle.truncate(5 * 2**30)  # 5 GiB, sparse: nothing is written
    with pytest.raises(RunDirError) as error:
        read_trace_file(path, TraceSchema())
    assert one_line(error) == (
        f"{path}: 5 GiB, more than the 1000 bytes sliceflow reads from a run folder; trace "
        "fewer steps (trace.every) and re-run"
    )


# -- YAML -----------------------------------------------------------------------------------------
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)  # nine levels of nine: 387,420,489 values from 300 bytes


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BOMB, "values once its aliases (*name) are expanded"),
        ("a: &a [*a]\n", "refers to a value that contains it"),
        ("a: " + "[" * 1100 + "]" * 1100 + "\n", "nested deeper than 64 levels"),
        ("a: " + "[" * 70 + "]" * 70 + "\n", "nested deeper than 64 levels"),
        ("steps: " + "9" * 5001 + "\n", "an integer of 5001 characters"),
        ("- a list\n", "not a mapping of keys"),
        ("a: [unclosed\n", "not valid YAML"),
        ("a: 1\na: 2\n", "key 'a' is given twice (lines 1 and 2)"),
    ],
    ids=[
        "alias bomb",
        "self alias",
        "deep",
        "deep but parsed",
        "huge int",
        "list",
        "broken",
        "repeated key",
    ],  # fmt: skip
)
def test_hostile_yaml_is_one_line(tmp_path, text, problem):
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(RunDirError) as error:
        read_scenario(path)
    assert problem in one_line(error) and str(path) in str(error.value)


def test_yaml_over_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_YAML_BYTES", 100)
    path = tmp_path / "scenario.yaml"
    path.write_text("name: x\n" * 20)
    with pytest.raises(RunDirError, match="more than the 100 bytes"):
        read_scenario(path)
    assert read_scenario(tmp_path / "absent.yaml") == {}


# -- scenario.yaml, field by field --------------------------------------------------------------
RECORD = {
    "name": "small", "task": "flow", "steps": 8, "seeds": [0, 1],
    "methods": [{"method": "swd", "label": "swd"}], "trace": {"every": 1},
    "manifold": {"name": "poincare", "curvature": -1.0}, "output": {"gif": False},
    "run": {"task": "flow", "trace": {"values": ["loss", "w2sq"], "primary": "w2sq",
                                      "description": "exact W2^2"},
            "drawing": {"boundary_radius": 1.0, "extent": 1.03, "distance": "W2^2"},
            "interrupted": False, "completed_steps": {"swd": 8}, "elapsed_s": {"swd": 0.1},
            "nonfinite_particles": {"swd": [0, 0]}, "diverged_at_step": {"swd": [-1, -1]},
            "versions": {"numpy": "2.0"}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("run",), "x", "run is 'x', not a mapping of keys"),
        (("run", "trace", "values"), 5, "run.trace.values is 5, not a list of 1..1000 items"),
        (("run", "trace", "primary"), "nope", "run.trace.primary 'nope' is not one of"),
        (("run", "completed_steps", "swd"), "abc",
         "run.completed_steps.swd is 'abc', not a whole number -1..100000000"),
        (("run", "completed_steps", "swd"), 9, "run.completed_steps.swd is 9, more than steps"),
        (("run", "drawing", "extent"), -1.0, "run.drawing.extent is -1.0, not a positive finite"),
        (("run", "drawing", "boundary_radius"), math.inf, "run.drawing.boundary_radius is inf"),
        (("run", "interrupted"), "yes", "run.interrupted is 'yes', not true or false"),
        (("run", "diverged_at_step", "swd"), [-1, "x"], "run.diverged_at_step.swd[1] is 'x'"),
        (("run", "task"), [1], "run.task is [1], not a line of text"),
        (("name",), "two\nlines", "name is 'two\\nlines', not a line of text"),
        (("steps",), "many", "steps is 'many', not a whole number 0..100000000"),
        (("seeds",), [0, 0], "seeds repeat a seed"),
        (("methods",), [1], "methods[0] is 1, not a mapping with a label or a method name"),
        (("methods",), [{"label": "a"}, {"label": "a"}], "methods repeat a label"),
        (("manifold",), {"name": [1]}, "manifold is {'name': [1]}, not a manifold name"),
        (("output",), "x", "output is 'x', not a mapping of keys"),
        (("trace", "every"), 0, "trace.every is 0, not a whole number 1..100000000"),
    ],
)  # fmt: skip
def test_a_wrong_field_of_scenario_yaml_is_named(tmp_path, where, value, message):
    record = yaml.safe_load(yaml.safe_dump(RECORD))
    node = record
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(record))
    with pytest.raises(RunDirError) as error:
        read_record(path)
    assert one_line(error).startswith(f"{path}: {message}")
    assert str(error.value).endswith("re-run the scenario to rewrite it")


def test_a_valid_record_and_an_older_partial_one_pass(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(RECORD))
    assert read_record(path) == RECORD
    path.write_text(yaml.safe_dump({"name": "old", "steps": 4, "plugin_key": {"any": [1]}}))
    assert read_record(path)["name"] == "old"


# -- tables -------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def test_a_valid_trace_reads_back_exactly(tmp_path):
    path = write(tmp_path, HEADER + "".join(ROWS))
    found = read_trace_file(path, TraceSchema(), EXPECT)
    assert found.warnings == [] and found.labels == ["swd"]
    trace = found.traces["swd"]
    assert trace.seeds.tolist() == [0, 0, 1, 1] and trace.steps.tolist() == [0, 1, 0, 1]
    assert trace.value.tolist() == [2.5, 1.5, 2.25, 1.25]
    labels, traces = read_trace(path, TraceSchema())  # the strict reader of sweeps agrees
    assert labels == ["swd"] and traces["swd"].value.tolist() == trace.value.tolist()


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ("swd,0,1,0.5,1.5,0.0", "a last row cut short by the end of the file dropped (line 6)"),
        (ROWS[0] + ROWS[1], "2 duplicated row(s) dropped (first: line 6)"),
        ("swd,0,1,9.0,9.0,0.02\n", "1 row(s) repeating the key of an earlier row with other "
         "values dropped (the first kept) (first: line 6)"),
        ("ghost,0,0,1,1,0\n", "1 row(s) of a method scenario.yaml does not declare ignored "
         "(first: line 6: method 'ghost')"),
        ("swd,0,-3,1,1,0\nswd,0,2.5,1,1,0\n", "2 row(s) with a step that is not a whole number "
         "in the run's range dropped (first: line 6: step '-3')"),
        ("swd,7,0,1,1,0\n", "1 row(s) of a seed not among scenario.yaml's seeds dropped (first: "
         "line 6: seed '7')"),
        ("swd,0,0,x,1,0\n", "1 malformed row(s) dropped (first: line 6: loss 'x' is not a "
         "number)"),
        ("swd,0\n", "1 malformed row(s) dropped (first: line 6: 2 fields, not 6)"),
    ],
    ids=["cut", "duplicate", "conflict", "method", "step", "seed", "value", "short"],
)  # fmt: skip
def test_a_damaged_trace_row_is_dropped_with_one_warning(tmp_path, extra, warning):
    path = write(tmp_path, HEADER + "".join(ROWS) + extra)
    found = read_trace_file(path, TraceSchema(), EXPECT)
    assert found.warnings == [f"{path}: {warning}"]
    assert found.traces["swd"].value.tolist() == [2.5, 1.5, 2.25, 1.25]  # what is consistent
    if "scenario.yaml" not in warning:  # the strict reader of sweeps expects nothing, and
        with pytest.raises(RunDirError, match="re-run the scenario to rewrite it"):
            read_trace(path, TraceSchema())  # takes no damage


def test_a_trace_with_no_usable_row_is_one_line(tmp_path):
    path = write(tmp_path, HEADER + "ghost,0,0,1,1,0\n")
    with pytest.raises(RunDirError) as error:
        read_trace_file(path, TraceSchema(), EXPECT)
    assert "no usable row (1 row(s) of a method" in one_line(error)
    with pytest.raises(RunDirError, match="no rows; the run stopped before"):
        read_trace_file(write(tmp_path, HEADER), TraceSchema(), EXPECT)


def test_summary_and_metrics_rows_are_checked_the_same_way(tmp_path):
    summary = "method,step,n_seeds,n_diverged,q25,median,q75\nswd,0,2,0,0.1,0.2,0.3\n"
    path = write(tmp_path, summary + "swd,1,2,3,0,0,0\nswd,0,2,0,0.1,0.2,0.3\n", "summary.csv")
    rows, warnings = read_summary_file(path, EXPECT)
    assert [(r.step, r.median) for r in rows["swd"]] == [(0, 0.2)]
    assert [w.removeprefix(f"{path}: ") for w in warnings] == [
        "1 malformed row(s) dropped (first: line 3: n_diverged 3 > n_seeds 2)",
        "1 duplicated row(s) dropped (first: line 4)",
    ]
    metrics = "method,seed,step,name,value\nswd,0,1,m,1.0\nswd,0,1,,2\nswd,1,1," + "n" * 101
    path = write(tmp_path, metrics + ",3\n", "metrics.csv")
    rows, warnings = read_metrics_file(path, EXPECT)
    assert rows == [{"method": "swd", "seed": 0, "step": 1, "name": "m", "value": 1.0}]
    assert warnings == [f"{path}: 2 row(s) with an empty or over-long name dropped (first: "
                        "line 3: name '')"]  # fmt: skip


# -- archives -----------------------------------------------------------------------------------
def archive(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def liar(path: Path) -> Path:
    """An archive whose one array announces 10^12 numbers and holds 100 bytes."""
    with zipfile.ZipFile(path, "w") as handle, handle.open("target.npy", "w") as stream:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(bytes(100))
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: archive(p, swd=np.array([{}, 1], dtype=object)), "array 'swd' holds object"),
        (lambda p: archive(p, swd=np.ones(3, complex)), "array 'swd' holds complex128 values"),
        (lambda p: archive(p, swd=np.array(["a"])), "array 'swd' holds <U1 values"),
        (lambda p: archive(p, swd=np.zeros(2, [("a", "f8")])), "not real numbers"),
        (liar, "array 'target' announces more data than it holds"),
        (lambda p: write(p.parent, "PK\x03\x04 not a zip", p.name), "not a readable .npz"),
    ],
    ids=["pickle", "complex", "text", "structured", "liar", "garbage"],
)
def test_a_damaged_or_foreign_archive_is_one_line(tmp_path, make, problem):
    path = make(tmp_path / "particles.npz")
    with pytest.raises(RunDirError) as error:
        read_npz(path)
    assert problem in one_line(error)


def test_an_archive_that_unpacks_past_the_cap_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "MAX_NPZ_BYTES", 10_000)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, swd=np.zeros(100_000))  # 800 kB of zeros in about 1 kB
    path = tmp_path / "particles.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(RunDirError, match=r"781 KiB in 1 arrays unpacked, more than"):
        read_npz(path)
    monkeypatch.setattr(bounded, "MAX_NPZ_BYTES", 10**7)
    assert read_npz(path)["swd"].shape == (100_000,)
