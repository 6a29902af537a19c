"""The ``output:`` section of a scenario: where a run goes and how its report is rendered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sliceflow.rundir.layout import FIGURE_FORMATS

MAX_GIF_FRAMES = 1000
MAX_GIF_PX = 4096
MAX_GIF_PIXELS = 2**30  # frames x size^2: the frames of one GIF, a byte per pixel, in memory
MAX_GIF_SEED = 100_000  # an index into the seeds (at most that many)


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
        Frames per GIF (2 to 1,000).
    gif_fps : float
        GIF frames per second (0.01 to 100: a GIF counts delays in hundredths of a second).
    gif_size_px : int
        GIF panel size in pixels (64 to 4,096); ``gif_frames * gif_size_px**2`` is at most
        2**30 (the frames of a GIF are kept in memory, a byte per pixel).
    format : {"png", "pdf"}
        Format of the static figures.
    threshold : float
        The reports give the first step whose median log10 value is below it (finite).
    log_time : bool
        Draw the step axis on a log scale.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dir: str | None = None
    gif: bool = True
    gif_seed: int = Field(0, ge=0, le=MAX_GIF_SEED, description="index into the run's seeds")
    gif_frames: int = Field(60, gt=1, le=MAX_GIF_FRAMES)
    gif_fps: float = Field(12.0, ge=0.01, le=100)
    gif_size_px: int = Field(480, ge=64, le=MAX_GIF_PX)
    format: Literal[FIGURE_FORMATS] = "png"
    threshold: float = -1.0
    log_time: bool = False

    @model_validator(mode="after")
    def _gif_fits_in_memory(self):
        pixels = self.gif_frames * self.gif_size_px**2
        if pixels > MAX_GIF_PIXELS:
            raise ValueError(
                f"gif_frames {self.gif_frames} x gif_size_px {self.gif_size_px}^2 = {pixels} "
                f"pixels, more than the {MAX_GIF_PIXELS} a GIF may hold in memory; give fewer "
                "frames or a smaller size"
            )
        return self
