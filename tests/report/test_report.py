"""render_run on synthetic run directories: files, self-contained HTML, numbers, interruptions."""

from __future__ import annotations

import base64
import csv
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from sliceflow.report import RunDirError, load_run, render_run
from sliceflow.report.io import progress
from sliceflow.report.particles import load_particles
from sliceflow.report.trace import run_series, trace_figure
from tests.report.test_report_synthetic import write_run


class _Sources(HTMLParser):
    """Collects every src/href of the page and the text inside <td> cells."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.sources += [v for k, v in attrs if k in ("src", "href") and v is not None]
        self._in_cell = tag == "td"

    def handle_endtag(self, tag):
        self._in_cell = False if tag == "td" else self._in_cell

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


def _summary_csv(run_dir) -> dict[tuple[str, int], dict[str, str]]:
    rows = csv.DictReader((run_dir / "summary.csv").open())
    return {(r["method"], int(r["step"])): r for r in rows}


def test_render_writes_every_output_and_the_html_embeds_each_figure(tmp_path):
    run_dir = write_run(tmp_path / "run")
    written = render_run(run_dir)
    names = {p.name for p in written}
    expected = {"trace.png", "snapshots.png", "flow_swd.gif", "flow_max_sw.gif", "flows.gif"}
    expected |= {"metrics_mean_norm.png", "report.md", "report.html"}
    assert names == expected
    # nothing else was written: no loose frame files, no temporaries
    assert {p.name for p in run_dir.iterdir()} == expected | {
        "trace.csv", "summary.csv", "metrics.csv", "particles.npz", "scenario.yaml"
    }  # fmt: skip

    parser = _Sources()
    parser.feed((run_dir / "report.html").read_text())
    assert all(src.startswith("data:image/") for src in parser.sources)
    figures = sorted(p for p in written if p.suffix in (".png", ".gif"))
    assert len(parser.sources) == len(figures)
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in parser.sources]
    for path in figures:  # every figure file is embedded byte for byte
        assert path.read_bytes() in embedded
    for data in embedded:
        Image.open(io.BytesIO(data)).verify()


def test_report_numbers_are_the_summary_csv_numbers(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=30, every=3)
    render_run(run_dir, gif=False)
    summary = _summary_csv(run_dir)
    parser = _Sources()
    parser.feed((run_dir / "report.html").read_text())
    cells = parser.cells
    markdown = (run_dir / "report.md").read_text()
    for label in ("swd", "max_sw"):
        steps = sorted(step for method, step in summary if method == label)
        row_start = cells.index(label)
        for column, step in zip((1, 2, 3), (steps[0], steps[len(steps) // 2], steps[-1]),
                                strict=True):  # fmt: skip
            r = summary[(label, step)]
            text = "{:.3f} [{:.3f}, {:.3f}] @{}".format(
                float(r["median"]), float(r["q25"]), float(r["q75"]), step
            )
            assert cells[row_start + column] == text
            assert text in markdown
    # max_sw has one diverged seed out of 3 (synthetic run: seed 1 from step 20)
    assert cells[cells.index("max_sw") + 6] == "1/3"
    assert cells[cells.index("swd") + 6] == "0/3"


def test_threshold_step_is_the_first_step_whose_median_is_below(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=40, every=1, diverge=None)
    summary = _summary_csv(run_dir)
    threshold = -0.6
    render_run(run_dir, gif=False, threshold=threshold)
    parser = _Sources()
    parser.feed((run_dir / "report.html").read_text())
    for label in ("swd", "max_sw"):
        below = sorted(s for (m, s), r in summary.items() if m == label
                       and float(r["median"]) < threshold)  # fmt: skip
        shown = parser.cells[parser.cells.index(label) + 4]
        assert shown == (str(below[0]) if below else "never")
    assert "under -0.6" in (run_dir / "report.md").read_text()


def test_interrupted_run_renders_and_names_the_missing_steps(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=40, completed={"max_sw": 14})
    written = render_run(run_dir)
    markdown = (run_dir / "report.md").read_text()
    assert "## Interrupted run" in markdown
    assert "max_sw: stopped after step 14 of 40; steps 15-40 missing" in markdown
    assert "swd: complete" not in markdown and "swd:" not in markdown.split("## Methods")[0]
    assert "steps 15-40 missing" in (run_dir / "report.html").read_text()
    # the unfinished method's GIF only shows snapshots it reached (steps 0, 4, 8, 12)
    particles = load_particles(load_run(run_dir))
    assert particles.snapshot_steps("max_sw").tolist() == [0, 4, 8, 12]
    assert Image.open(run_dir / "flow_max_sw.gif").n_frames == 4
    assert {"flows.gif", "flow_swd.gif", "report.html"} <= {p.name for p in written}


def test_progress_without_completed_steps_uses_the_trace(tmp_path):
    import yaml

    run_dir = write_run(tmp_path / "run", steps=40, every=2, completed={"swd": 21})
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text())
    del scenario["run"]["completed_steps"]
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    states = {p.label: (p.completed, p.missing) for p in progress(load_run(run_dir))}
    assert states == {"swd": (20, (21, 40)), "max_sw": (40, None)}


def test_missing_summary_is_recomputed_from_the_trace(tmp_path):
    run_dir = write_run(tmp_path / "run")
    saved = load_run(run_dir).summary
    (run_dir / "summary.csv").unlink()
    run = load_run(run_dir)
    assert run.summary_source == "trace.csv"
    for label, rows in saved.items():
        got = run.summary[label]
        assert [(r.step, r.n_seeds, r.n_diverged) for r in got] == [
            (r.step, r.n_seeds, r.n_diverged) for r in rows
        ]
        np.testing.assert_allclose([r.median for r in got], [r.median for r in rows], rtol=1e-12)


def test_pdf_format_writes_vector_figures_and_still_embeds_png(tmp_path):
    run_dir = write_run(tmp_path / "run", metrics=False)
    written = render_run(run_dir, format="pdf", gif=False)
    assert {p.name for p in written} == {"trace.pdf", "snapshots.pdf", "report.md", "report.html"}
    assert (run_dir / "trace.pdf").read_bytes().startswith(b"%PDF")
    parser = _Sources()
    parser.feed((run_dir / "report.html").read_text())
    assert len(parser.sources) == 2
    assert all(s.startswith("data:image/png;base64,") for s in parser.sources)


def test_trace_legend_counts_diverged_seeds_and_poincare_says_geodesic(tmp_path):
    run = load_run(write_run(tmp_path / "run", manifold="poincare"))
    figure = trace_figure(
        run_series(run), quantity=run.schema.description, log_time=True, title="t"
    )
    ax = figure.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["swd (0/3 diverged)", "max_sw (1/3 diverged)"]
    assert "geodesic" in ax.get_ylabel()
    assert ax.get_xscale() == "symlog"
    euclid = load_run(write_run(tmp_path / "flat"))
    flat = trace_figure(run_series(euclid), quantity=euclid.schema.description, log_time=False,
                        title="t")  # fmt: skip
    assert "geodesic" not in flat.axes[0].get_ylabel() and flat.axes[0].get_xscale() == "linear"


def test_options_come_from_the_scenario_then_the_arguments(tmp_path):
    run_dir = write_run(tmp_path / "run", output={"gif": False, "format": "pdf"})
    names = {p.name for p in render_run(run_dir)}
    assert "trace.pdf" in names and not any(n.endswith(".gif") for n in names)
    names = {p.name for p in render_run(run_dir, gif=True, format="png", gif_frames=3)}
    assert {"trace.png", "flows.gif"} <= names


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda d: d / "absent", r"no such directory"),
        (lambda d: d, r"no trace\.csv"),
    ],
)
def test_bad_run_directory_raises_one_line(tmp_path, make, pattern):
    with pytest.raises(RunDirError, match=pattern) as info:
        render_run(make(tmp_path))
    assert "\n" not in str(info.value)


def test_bad_options_raise_one_line(tmp_path):
    run_dir = write_run(tmp_path / "run")
    for kwargs, pattern in [
        ({"format": "svg"}, "'png' or 'pdf'"),
        ({"gif_seed": 7}, "out of range: the run has 3 seeds"),
        ({"gif_frames": 0}, "greater than 1"),
    ]:
        with pytest.raises(RunDirError, match=pattern) as info:
            render_run(run_dir, **kwargs)
        assert "\n" not in str(info.value)
    with open(run_dir / "trace.csv", "w") as handle:
        handle.write("method,seed,step\nswd,0,0\n")
    with pytest.raises(RunDirError, match=re.escape("missing column(s) loss, w2sq, elapsed_s")):
        render_run(run_dir)


def test_a_malformed_summary_is_recomputed_from_the_trace_and_a_damaged_archive_is_one_line(
    tmp_path,
):
    run_dir = write_run(tmp_path / "run")
    intact = load_run(run_dir).summary
    text = (run_dir / "summary.csv").read_text().replace(",3,", ",three,", 1)
    (run_dir / "summary.csv").write_text(text)
    run = load_run(run_dir)
    assert run.summary_source == "trace.csv" and run.summary == intact
    assert [w.split(": ", 1)[1] for w in run.warnings] == [
        "1 malformed row(s) dropped (first: line 2: n_seeds 'three' is not a count)",
        "damaged, so the summary was recomputed from trace.csv",
    ]
    run_dir = write_run(tmp_path / "other")
    (run_dir / "particles.npz").write_bytes(b"not a zip file")
    with pytest.raises(RunDirError, match="particles.npz: not a readable .npz archive"):
        render_run(run_dir)
