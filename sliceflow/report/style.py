"""Shared figure style: colours, axes of the particle domain, figure creation and saving.

Figures are built with the object-oriented API (``Figure`` + Agg canvas), never pyplot, so
rendering a report never changes a user's matplotlib backend or global state.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from pydantic import ValidationError

from sliceflow.errors import RunDirError
from sliceflow.rundir import DrawingRecord, OutputSettings, atomic_write_bytes
from sliceflow.rundir.record import shown

DPI = 150  # static figures; readable on a projector
TARGET_COLOR = "#c8c8c8"  # light grey: the target stays in the background
FONT = {"axes.titlesize": 13, "axes.labelsize": 13, "xtick.labelsize": 11, "ytick.labelsize": 11}


# The command-line option of each output setting (`sliceflow report`).
OPTIONS = {"gif": "--gif/--no-gif", "gif_seed": "--gif-seed", "gif_frames": "--gif-frames",
           "gif_fps": "--fps", "gif_size_px": "--size", "format": "--format",
           "threshold": "--threshold", "log_time": "--log-time/--linear-time"}  # fmt: skip


def resolve_options(scenario: dict[str, Any], source: Path | None = None,
                    **given: Any) -> OutputSettings:  # fmt: skip
    """Options given now (None = unset) win over the run's ``output:`` section, then defaults.

    Keys as in a scenario's ``output:`` section (``gif``, ``gif_seed``, ``format`` ...); a bad
    value is a one-line RunDirError, naming ``source`` (the run's scenario.yaml) when the value
    came from its ``output:`` section.
    """
    saved = scenario.get("output")
    saved = {k: v for k, v in saved.items() if k in OutputSettings.model_fields} if isinstance(
        saved, dict) else {}  # fmt: skip
    chosen = {k: v for k, v in given.items() if v is not None}
    try:
        return OutputSettings.model_validate({**saved, **chosen})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        value = shown(first.get("input"))
        if source is not None and field in saved and field not in chosen:
            option = f" or pass {OPTIONS[field]}" if field in OPTIONS else ""
            raise RunDirError(f"{source}: output.{field} is {value}: {first['msg']}; give a "
                              f"valid value there{option}") from None  # fmt: skip
        raise RunDirError(
            f"output option {field} = {value}: {first['msg']}; give a valid value"
        ) from None


def method_color(index: int) -> str:
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
    palette += ["#17becf", "#bcbd22", "#7f7f7f"]
    return palette[index % len(palette)]


def new_figure(width_in: float, height_in: float, dpi: float = DPI) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: Path) -> Path:
    """Write atomically (temporary file + rename); the format follows the suffix.

    The layout is the figure's own (tight_layout at build time): no ``bbox_inches="tight"``,
    which would cost one more full draw.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip("."), dpi=figure.dpi)
    return atomic_write_bytes(path, buffer.getvalue())


def figure_png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    return buffer.getvalue()


def square_limits(*arrays: np.ndarray, pad: float = 0.06) -> tuple[float, float, float, float]:
    """Square (x0, x1, y0, y1) covering every finite point of the first two coordinates.

    Runaway particles (spread over 5x that of the 1-99 percentiles) are left off the canvas
    rather than shrinking everything else to a dot.
    """
    points = np.concatenate([a.reshape(-1, a.shape[-1])[:, :2] for a in arrays])  # (N, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if points.size == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    low, high = points.min(axis=0), points.max(axis=0)  # (2,), (2,)
    robust_low, robust_high = np.percentile(points, [1, 99], axis=0)
    if (high - low).max() > 5 * max(float((robust_high - robust_low).max()), 1e-12):
        low, high = robust_low, robust_high
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1e-6) * (1 + pad)
    return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)


def setup_domain_axes(
    ax: Any, drawing: DrawingRecord, limits: tuple[float, float, float, float]
) -> None:
    """Equal-aspect axes over ``limits``, or over the manifold's own view with its boundary."""
    radius, extent = drawing["boundary_radius"], drawing["extent"]
    if radius is not None:
        ax.add_patch(Circle((0, 0), radius, fill=False, color="black", lw=1.0))
    if extent is not None:
        limits = (-extent, extent, -extent, extent)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal", adjustable="box")
    ax.tick_params(labelsize=8, length=2)


def math_name(text: str) -> str:
    """Math text of a plain quantity name: ``geodesic W2^2`` -> ``geodesic $W_2^2$``."""
    return (
        text.replace("SW2^2", r"$SW_2^2$").replace(" W2^2", r" $W_2^2$").replace("W2^2", r"$W_2^2$")
    )
