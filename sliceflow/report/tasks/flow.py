"""Figures of a particle-flow run: snapshots.<format>, flow_<label>.gif per method and flows.gif."""

from __future__ import annotations

from pathlib import Path

from sliceflow.report.io import RunData
from sliceflow.report.tasks import register_report
from sliceflow.report.tasks.base import SaveStatic, TaskReport
from sliceflow.rundir import OutputSettings
from sliceflow.rundir.layout import file_label


@register_report("flow")
class FlowReport(TaskReport):
    """A particle-flow run: the snapshot grid, and each method's flow as a GIF."""

    def render(
        self, run: RunData, options: OutputSettings, figures: list, static: SaveStatic
    ) -> list[Path]:
        """snapshots.<fmt> and, if enabled, flow_<label>.gif per method and flows.gif."""
        from sliceflow.report.document import EmbeddedFigure
        from sliceflow.report.gif import write_gifs
        from sliceflow.report.images import render_images
        from sliceflow.report.particles import load_particles
        from sliceflow.report.snapshots import snapshots_figure

        if not run.particles_path().exists():
            return []
        particles = load_particles(run)
        if not any(p.shape[0] for p in particles.positions.values()):
            return []  # no snapshot was taken (or reached): nothing to draw
        static(
            snapshots_figure(run, particles, seed_index=options.gif_seed),
            "particles at chosen flow steps",
            "snapshots",
        )
        images = render_images(run, options, static)  # runs whose particles are an image's pixels
        for path in images:
            if path.suffix == ".gif":
                figures.append(EmbeddedFigure("the recolouring", path.name, path.read_bytes(),
                                              "image/gif"))  # fmt: skip
        if not options.gif:
            return images
        gif_args = {
            "seed_index": options.gif_seed,
            "frames": options.gif_frames,
            "fps": options.gif_fps,
            "size_px": options.gif_size_px,
        }
        paths = images + write_gifs(run, particles, run.run_dir, file_label, **gif_args)
        for path in paths[len(images) :]:
            caption = "all methods" if path.name == "flows.gif" else f"flow of {path.stem[5:]}"
            figures.append(EmbeddedFigure(caption, path.name, path.read_bytes(), "image/gif"))
        return paths
