"""Runs of large clouds: named trace estimators, the exact-trace budget and --force, bounded
snapshots with final.npz, image runs (recoloured images, side-by-side figure, GIF), and bad
input (subsample larger than n, L <= 0) as one line with exit code 2."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.rundir import read_npz
from tests.helpers import small_scenario

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_exit_2(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_trace_columns_name_their_estimators(tmp_path, write_scenario):
    trace = {"estimator": ["subsample", "sliced", "exact"], "size": 20, "n_projections": 30}
    path = write_scenario(small_scenario(steps=4, trace=trace, seeds=2))
    result = _invoke("run", path, "--out", tmp_path / "o", "--no-progress", "--no-gif")
    assert result.exit_code == 0, result.output
    header = (tmp_path / "o" / "trace.csv").read_text().splitlines()[0].split(",")
    assert {"loss", "w2sq_subsample", "sw2sq", "w2sq"} <= set(header)
    written = (tmp_path / "o" / "scenario.yaml").read_text()
    assert "20-point subsamples" in written and "30 fixed directions" in written


BAD_TRACE = {
    "subsample larger than n": (
        {"trace": {"estimator": "subsample", "size": 80}},
        "size 80 is larger than n_particles (50)",
    ),
    "L = 0 for a flow": (
        {"methods": [{"method": "swd", "n_projections": 0}]},
        "methods[0].n_projections",
    ),
    "L < 0 for the sliced trace": (
        {"trace": {"estimator": "sliced", "n_projections": -3}},
        "trace.n_projections",
    ),
    "more clusters than points": (
        {"trace": {"estimator": "kmeans", "clusters": 60}},
        "clusters 60 is more than the points",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TRACE))
def test_bad_trace_and_slice_settings_give_one_line(case, write_scenario, tmp_path):
    changes, expected = BAD_TRACE[case]
    path = write_scenario(small_scenario(**changes))
    for command in (("validate", path), ("run", path, "--out", tmp_path / "o")):
        _one_line_exit_2(_invoke(*command), expected)


def test_slow_exact_traces_stop_with_a_hint_unless_forced(write_scenario):
    big = small_scenario(n_particles=5000, steps=200, seeds=2, trace={"every": 1})
    path = write_scenario(big)
    result = _invoke("validate", path)
    _one_line_exit_2(result, "or run it anyway with --force")
    for hint in ("subsample", "sliced", "trace.every"):
        assert hint in result.output
    assert _invoke("validate", path, "--force").exit_code == 0


def test_large_runs_keep_bounded_snapshots_and_the_full_final_cloud(tmp_path, write_scenario):
    scenario = small_scenario(n_particles=400, steps=3, seeds=2,
                              snapshots={"count": 3, "max_points": 50})  # fmt: skip
    result = _invoke("run", write_scenario(scenario), "--out", tmp_path / "o", "--no-progress",
                     "--no-gif")  # fmt: skip
    assert result.exit_code == 0, result.output
    particles = read_npz(tmp_path / "o" / "particles.npz")
    assert particles["swd"].shape == (3, 2, 50, 2) and particles["particle_index"].shape == (2, 50)
    index = particles["particle_index"]
    assert all(len(set(row)) == 50 for row in index)  # distinct points, a fixed subsample
    final = read_npz(tmp_path / "o" / "final.npz")
    assert final["swd"].shape == (400, 2) and final["source"].shape == (400, 2)
    assert np.allclose(final["swd"][index[0]], particles["swd"][-1, 0])


@pytest.mark.slow
def test_an_image_run_writes_recoloured_images_a_figure_and_a_gif(tmp_path, write_scenario):
    rows, columns = 12, 16
    rng = np.random.default_rng(0)
    for name in ("source.png", "target.png"):
        pixels = rng.integers(0, 256, (rows, columns, 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(tmp_path / name)
    scenario = small_scenario(
        n_particles=rows * columns, steps=4, seeds=1, dtype="float32",
        source={"dataset": "image_pixels", "image": "source.png"},
        target={"dataset": "image_pixels", "image": "target.png"},
        methods=[{"method": "swd", "lr": 96.0, "n_projections": 10}],
        trace={"estimator": ["kmeans", "sliced"], "clusters": 20, "n_projections": 50},
        snapshots={"count": 3, "max_points": 48},
        output={"gif": True, "gif_frames": 3},
    )  # fmt: skip
    out = tmp_path / "o"
    result = _invoke("run", write_scenario(scenario), "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    with Image.open(out / "recolored_swd.png") as picture:
        assert picture.size == (columns, rows) and picture.mode == "RGB"
    assert (out / "color_transfer.png").is_file() and (out / "recolor_swd.gif").is_file()
    header = (out / "trace.csv").read_text().splitlines()[0].split(",")
    assert "w2sq_kmeans" in header and "sw2sq" in header and "w2sq" not in header
    particles = read_npz(out / "particles.npz")
    assert tuple(particles["particle_grid"]) == (6, 8)  # every 2nd row and column
