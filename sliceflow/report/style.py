"""Shared figure style: colours, axes of the particle domain, figure creation and saving.

Figures are built with the object-oriented API (``Figure`` + Agg canvas), never pyplot, so
rendering a report never changes a user's matplotlib backend or global state.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from sliceflow.report.io import RunDirError

DPI = 150  # static figures; readable on a projector
TARGET_COLOR = "#c8c8c8"  # light grey: the target stays in the background
FONT = {"axes.titlesize": 13, "axes.labelsize": 13, "xtick.labelsize": 11, "ytick.labelsize": 11}
DEFAULTS: dict[str, Any] = {
    "gif": True,
    "gif_seed": 0,
    "gif_frames": 60,
    "gif_fps": 12.0,
    "gif_size_px": 480,
    "format": "png",
    "threshold": -1.0,
    "log_time": False,
}


@dataclass(frozen=True)
class ReportOptions:
    gif: bool
    gif_seed: int
    gif_frames: int
    gif_fps: float
    gif_size_px: int
    fmt: str
    threshold: float
    log_time: bool


def resolve_options(scenario: dict[str, Any], **overrides: Any) -> ReportOptions:
    """Overrides (None = unset) win over the scenario's ``output:`` section, then DEFAULTS."""
    output = scenario.get("output") or {}
    values = {}
    for key, default in DEFAULTS.items():
        arg = "fmt" if key == "format" else key
        given = overrides.get(arg)
        values[arg] = given if given is not None else output.get(key, default)
    options = ReportOptions(
        gif=bool(values["gif"]),
        gif_seed=int(values["gif_seed"]),
        gif_frames=int(values["gif_frames"]),
        gif_fps=float(values["gif_fps"]),
        gif_size_px=int(values["gif_size_px"]),
        fmt=str(values["fmt"]).lower(),
        threshold=float(values["threshold"]),
        log_time=bool(values["log_time"]),
    )
    if options.fmt not in ("png", "pdf"):
        raise RunDirError(f"format {options.fmt!r} is not supported; use png or pdf")
    checks = [
        (options.gif_frames >= 1, "gif_frames must be at least 1"),
        (options.gif_fps > 0, "gif_fps must be positive"),
        (options.gif_size_px >= 64, "gif_size_px must be at least 64 pixels"),
        (options.gif_seed >= 0, "gif_seed is an index into the run's seeds: use 0 or more"),
    ]
    for ok, message in checks:
        if not ok:
            raise RunDirError(message)
    return options


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
    tmp = path.with_name(path.name + ".tmp")
    figure.savefig(tmp, format=path.suffix.lstrip("."), dpi=figure.dpi)
    tmp.replace(path)
    return path


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


def setup_domain_axes(ax: Any, manifold: str, limits: tuple[float, float, float, float]) -> None:
    """Equal-aspect axes; on the Poincaré ball: the unit circle, and the axes are the disk."""
    if manifold == "poincare":
        ax.add_patch(Circle((0, 0), 1.0, fill=False, color="black", linewidth=1.0))
        limits = (-1.03, 1.03, -1.03, 1.03)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal", adjustable="box")
    ax.tick_params(labelsize=8, length=2)


def w2_symbol(manifold: str) -> str:
    """Math-text name of the traced quantity (geodesic on the ball, as the paper's Fig. 5)."""
    return r"geodesic $W_2^2$" if manifold == "poincare" else r"$W_2^2$"
