"""GIFs: frame count, pixel size, timing, seed choice, W2^2 lookup, Poincaré disk, d > 2."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageChops

from sliceflow.report import load_run, render_run
from sliceflow.report.gif import nearest_value, panel_figure, render_frames
from sliceflow.report.particles import load_particles
from sliceflow.report.snapshots import column_indices
from tests.report.test_report_synthetic import write_run


def _frames(path) -> list[Image.Image]:
    image = Image.open(path)
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(image.convert("RGB"))
    return frames


@pytest.mark.parametrize(("frames", "size"), [(5, 128), (9, 200)])
def test_gifs_have_the_requested_frames_and_size(tmp_path, frames, size):
    run_dir = write_run(tmp_path / "run", n_snapshots=21)
    render_run(run_dir, gif_frames=frames, gif_size_px=size, gif_fps=5)
    for name in ("flow_swd.gif", "flow_max_sw.gif"):
        image = Image.open(run_dir / name)
        assert image.format == "GIF"
        assert image.size == (size, size)
        assert image.n_frames == frames
        assert image.info["duration"] == 200  # 1000 / 5 fps
    flows = Image.open(run_dir / "flows.gif")
    assert flows.size == (2 * size, size) and flows.n_frames == frames


def test_frames_are_capped_by_the_snapshots_and_include_first_and_last():
    assert column_indices(11, 60).tolist() == list(range(11))
    chosen = column_indices(61, 7)
    assert chosen[0] == 0 and chosen[-1] == 60 and len(chosen) == 7
    assert np.all(np.diff(chosen) == 10)


def test_fewer_snapshots_than_frames_gives_one_frame_per_snapshot(tmp_path):
    run_dir = write_run(tmp_path / "run", n_snapshots=6)
    render_run(run_dir, gif_frames=60, gif_size_px=96)
    assert Image.open(run_dir / "flow_swd.gif").n_frames == 6


def test_frames_move_and_the_seed_choice_changes_the_picture(tmp_path):
    run = load_run(write_run(tmp_path / "run", n_snapshots=5))
    particles = load_particles(run)
    args = {"limits": (-2.0, 2.0, -2.0, 2.0), "size_px": 160}
    seed0 = render_frames(run, particles, "swd", [0, 4], seed_index=0, **args)
    seed2 = render_frames(run, particles, "swd", [0], seed_index=2, **args)
    assert seed0[0].size == (160, 160)
    assert ImageChops.difference(seed0[0], seed0[4]).getbbox() is not None  # particles moved
    assert ImageChops.difference(seed0[0], seed2[0]).getbbox() is not None  # another cloud


def test_flows_gif_panels_are_the_method_frames_side_by_side(tmp_path):
    run_dir = write_run(tmp_path / "run", n_snapshots=5)
    render_run(run_dir, gif_frames=5, gif_size_px=100)
    flows = _frames(run_dir / "flows.gif")
    for i, name in enumerate(("flow_swd.gif", "flow_max_sw.gif")):
        alone = _frames(run_dir / name)
        for k in (0, 4):
            panel = flows[k].crop((100 * i, 0, 100 * (i + 1), 100))
            difference = np.asarray(ImageChops.difference(panel, alone[k]))
            assert difference.mean() < 2.0  # equal up to each GIF's own palette


def test_nearest_traced_w2sq(tmp_path):
    run = load_run(write_run(tmp_path / "run", steps=20, every=5, diverge=("swd", 1, 10)))
    steps, w2sq = run.traces["swd"].seed_series(0)
    assert steps.tolist() == [0, 5, 10, 15, 20]
    assert nearest_value(run, "swd", 0, 7) == w2sq[1]  # 7 is nearest to 5
    assert nearest_value(run, "swd", 0, 8) == w2sq[2]
    assert nearest_value(run, "swd", 1, 12) == float("inf")  # diverged from step 10
    assert np.isnan(nearest_value(run, "swd", 99, 0))  # unknown seed: no value, no crash


def test_poincare_gif_axes_are_the_disk(tmp_path):
    run_dir = write_run(tmp_path / "run", manifold="poincare")
    run = load_run(run_dir)
    target = load_particles(run).target[0]
    figure, _, _ = panel_figure(run, target, (-0.3, 0.3, -0.3, 0.3), "red", "h", 120)
    ax = figure.axes[0]
    assert ax.get_xlim() == pytest.approx((-1.03, 1.03))
    assert ax.get_ylim() == pytest.approx((-1.03, 1.03))
    assert any(type(p).__name__ == "Circle" for p in ax.patches)  # the unit circle
    render_run(run_dir, gif_frames=3, gif_size_px=100)
    assert Image.open(run_dir / "flows.gif").size == (200, 100)


def test_high_dimensional_runs_draw_the_first_two_coordinates(tmp_path):
    run_dir = write_run(tmp_path / "run", dim=5, n_snapshots=4)
    render_run(run_dir, gif_frames=4, gif_size_px=120)
    assert Image.open(run_dir / "flow_swd.gif").n_frames == 4


@pytest.mark.slow
def test_default_gifs_stay_under_5_mb(tmp_path):
    run_dir = write_run(tmp_path / "run", n=200, steps=120, n_snapshots=61, output={"gif": True})
    render_run(run_dir)  # defaults: 60 frames, 480 px
    for name in ("flow_swd.gif", "flow_max_sw.gif", "flows.gif"):
        image = Image.open(run_dir / name)
        assert image.n_frames == 60
        assert (run_dir / name).stat().st_size < 5 * 2**20


def test_flows_gif_wraps_many_methods_into_rows_of_four(tmp_path):
    labels = ("a", "b", "c", "d", "e")
    run_dir = write_run(tmp_path / "run", labels=labels, diverge=None, n_snapshots=3)
    render_run(run_dir, gif_frames=3, gif_size_px=80)
    assert Image.open(run_dir / "flows.gif").size == (4 * 80, 2 * 80)
    assert all((run_dir / f"flow_{label}.gif").exists() for label in labels)
