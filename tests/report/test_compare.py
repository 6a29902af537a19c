"""Comparing runs: one trace figure (methods prefixed by run name) and one table."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.report import RunDirError
from sliceflow.report.compare import compare_runs, run_names
from tests.report.test_report_synthetic import write_run


def _row(markdown: str, method: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] == method:
            return cells
    raise AssertionError(f"no row {method}")


def test_compare_two_runs_writes_figure_and_table_with_each_runs_numbers(tmp_path):
    first = write_run(tmp_path / "fast", steps=20, every=2)
    second = write_run(tmp_path / "slow", steps=30, every=3, labels=("swd",), diverge=None)
    result = compare_runs([first, second], out=tmp_path / "cmp")
    assert [p.name for p in result.paths] == ["compare_trace.png", "compare.md"]
    assert (tmp_path / "cmp" / "compare_trace.png").read_bytes().startswith(b"\x89PNG")
    document = (tmp_path / "cmp" / "compare.md").read_text()
    assert result.markdown in document
    for run_dir, method in [(first, "swd"), (first, "max_sw"), (second, "swd")]:
        rows = [r for r in csv.DictReader((run_dir / "summary.csv").open())
                if r["method"] == method]  # fmt: skip
        last = rows[-1]
        cells = _row(result.markdown, f"{run_dir.name}/{method}")
        expected = "{:.3f} [{:.3f}, {:.3f}] @{}".format(
            float(last["median"]), float(last["q25"]), float(last["q75"]), last["step"]
        )
        assert cells[3] == expected
    assert _row(result.markdown, "fast/max_sw")[6] == "1/3"


def test_compare_default_out_is_beside_the_first_run_and_pdf_works(tmp_path):
    first = write_run(tmp_path / "a")
    second = write_run(tmp_path / "b")
    result = compare_runs([first, second], fmt="pdf")
    assert result.paths[0] == tmp_path / "compare" / "compare_trace.pdf"
    assert result.paths[0].read_bytes().startswith(b"%PDF")


def test_runs_with_the_same_scenario_name_are_told_apart(tmp_path):
    from sliceflow.report import load_run

    runs = [load_run(write_run(tmp_path / d / "same")) for d in ("x", "y")]
    names = run_names(runs)
    assert len(set(names)) == 2


def test_compare_names_an_interrupted_run_and_rejects_bad_input(tmp_path):
    done = write_run(tmp_path / "done")
    cut = write_run(tmp_path / "cut", completed={"swd": 10})
    result = compare_runs([done, cut], out=tmp_path / "cmp")
    assert "cut: swd: stopped after step 10 of 40; steps 11-40 missing" in result.markdown
    with pytest.raises(RunDirError, match="no trace.csv"):
        compare_runs([done, tmp_path], out=tmp_path / "cmp")


def test_compare_command(tmp_path):
    first = write_run(tmp_path / "one")
    second = write_run(tmp_path / "two")
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(first), str(second), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "one/swd" in result.output and "two/max_sw" in result.output
    assert (tmp_path / "c" / "compare.md").exists()
    bad = runner.invoke(app, ["compare", str(first), str(tmp_path / "missing")])
    assert bad.exit_code == 2
    assert bad.exception is None or isinstance(bad.exception, SystemExit)
    assert len(bad.output.strip().splitlines()) == 1 and "no such directory" in bad.output
