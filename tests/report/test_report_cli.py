"""`sliceflow report RUN_DIR`: re-render from saved files, same numbers, clean user errors."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from sliceflow.cli import app
from tests.report.test_report_synthetic import write_run


def _markdown_rows(path) -> dict[str, list[str]]:
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and len(cells) == 7:
            rows[cells[0]] = cells
    return rows


def test_report_command_reproduces_the_summary_numbers(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=30, every=3)
    # particles.npz is the only input of the figures: corrupting the flow code path is
    # impossible here, the command must only read files
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    result = CliRunner().invoke(app, ["report", str(run_dir), "--gif-frames", "4", "--size", "96",
                                      "--fps", "4", "--threshold", "-0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name, data in before.items():  # saved run files are untouched
        assert (run_dir / name).read_bytes() == data
    rows = _markdown_rows(run_dir / "report.md")
    summary = list(csv.DictReader((run_dir / "summary.csv").open()))
    for label in ("swd", "max_sw"):
        mine = [r for r in summary if r["method"] == label]
        first, middle, last = mine[0], mine[len(mine) // 2], mine[-1]
        for cell, r in zip(rows[label][1:4], (first, middle, last), strict=True):
            assert cell == "{:.3f} [{:.3f}, {:.3f}] @{}".format(
                float(r["median"]), float(r["q25"]), float(r["q75"]), r["step"]
            )
        assert f"{float(last['median']):.3f}" in result.output  # printed table too
    gif = Image.open(run_dir / "flow_swd.gif")
    assert (gif.n_frames, gif.size, gif.info["duration"]) == (4, (96, 96), 250)


def test_report_command_options_no_gif_and_pdf(tmp_path):
    run_dir = write_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--no-gif", "--format", "pdf",
                                      "--log-time"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (run_dir / "trace.pdf").exists() and not (run_dir / "flows.gif").exists()


def test_report_command_on_an_interrupted_run_names_missing_steps(tmp_path):
    run_dir = write_run(tmp_path / "run", completed={"swd": 8, "max_sw": 0})
    result = CliRunner().invoke(app, ["report", str(run_dir), "--no-gif"])
    assert result.exit_code == 0, result.output
    assert "swd: stopped after step 8 of 40; steps 9-40 missing" in result.output
    assert "max_sw: stopped after step 0 of 40; steps 1-40 missing" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (lambda d: [str(d / "absent")], "no such directory"),
        (lambda d: [str(d)], "no trace.csv"),
        (lambda d: [str(write_run(d / "r")), "--format", "svg"], "'png' or 'pdf'"),
        (lambda d: [str(write_run(d / "r")), "--gif-seed", "5"], "--gif-seed between 0 and 2"),
    ],
)
def test_report_command_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    result = CliRunner().invoke(app, ["report", *args(tmp_path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output
    assert "Traceback" not in result.output


def test_cli_package_does_not_import_matplotlib():
    code = (
        "import sys, sliceflow.cli, sliceflow.flows, sliceflow.report; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
