"""The ``output:`` section of a scenario: where a run goes and how its report is rendered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sliceflow.rundir.layout import FIGURE_FORMATS


class OutputSettings(BaseModel):
    """Where a run is written and how its figures, GIFs and documents are rendered.

    Parameters
    ----------
    dir : str or None
        The run folder when no ``--out`` is given (None: ``runs/<name>``).
    gif : bool
        Write the GIFs.
    gif_seed : int
        Index into the run's seeds of the seed the GIFs and snapshots show.
    gif_frames : int
        Frames per GIF (at least 2).
    gif_fps : float
        GIF frames per second.
    gif_size_px : int
        GIF panel size in pixels (at least 64).
    format : {"png", "pdf"}
        Format of the static figures.
    threshold : float
        The reports give the first step whose median log10 value is below it.
    log_time : bool
        Draw the step axis on a log scale.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str | None = None
    gif: bool = True
    gif_seed: int = Field(0, ge=0, description="index into the run's seeds")
    gif_frames: int = Field(60, gt=1)
    gif_fps: float = Field(12.0, gt=0)
    gif_size_px: int = Field(480, ge=64)
    format: Literal[FIGURE_FORMATS] = "png"
    threshold: float = -1.0
    log_time: bool = False
