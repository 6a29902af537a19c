"""What a run folder holds: file names, table columns and the schema of its records.

A run folder is ``trace.csv`` (one row per method, seed and traced step), ``summary.csv``
(quartiles over seeds), ``metrics.csv`` (named extra values), ``particles.npz`` (snapshots),
``final.npz`` (last state), ``scenario.yaml`` (the scenario, with a ``run:`` section the engine
adds: the trace schema, how the space is drawn, versions, progress) and ``checkpoint.pt``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

TRACE_FILE = "trace.csv"
SUMMARY_FILE = "summary.csv"
METRICS_FILE = "metrics.csv"
PARTICLES_FILE = "particles.npz"
FINAL_FILE = "final.npz"
SCENARIO_FILE = "scenario.yaml"
CHECKPOINT_FILE = "checkpoint.pt"
FIGURE_FORMATS = ("png", "pdf")

KEY_COLUMNS = ("method", "seed", "step")
SUMMARY_COLUMNS = ("method", "step", "n_seeds", "n_diverged", "q25", "median", "q75")
METRIC_COLUMNS = ("method", "seed", "step", "name", "value")
REWRITE = "re-run the scenario to rewrite it"


def file_label(label: str) -> str:
    """A method label (or a column or metric name) made safe for a file name: each run of
    characters other than ASCII letters, digits, ``_``, ``.`` and ``-`` becomes one ``_``.

    The scenario refuses labels that give the same file name (``a/b`` and ``a_b``), so each
    method's files (``flow_<label>.gif`` ...) are its own.
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


@dataclass(frozen=True)
class TraceSchema:
    """What a run's trace.csv holds: ``method,seed,step,<values...>,elapsed_s``.

    Parameters
    ----------
    values : tuple of str
        The value columns, in file order.
    primary : str
        The value column the summary and the figures show (quartiles of its log10 over seeds).
    description : str
        The primary column in words, for the reports (e.g. ``exact W2^2``).
    secondary : tuple of (str, str)
        (column, description) of other traced distances, each drawn in a figure of its own
        (e.g. ``("sw2sq", "SW2^2 with 1,000 fixed directions")``).
    """

    values: tuple[str, ...] = ("loss", "w2sq")
    primary: str = "w2sq"
    description: str = "exact W2^2"
    secondary: tuple[tuple[str, str], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of trace.csv, in file order."""
        return (*KEY_COLUMNS, *self.values, "elapsed_s")

    def to_dict(self) -> dict[str, Any]:
        """The schema as scenario.yaml's ``run.trace`` records it (no ``secondary`` if empty)."""
        data = {**asdict(self), "values": list(self.values)}
        data["secondary"] = [list(pair) for pair in self.secondary]
        if not self.secondary:
            del data["secondary"]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> TraceSchema:
        """The schema a run recorded in scenario.yaml (the particle-flow schema if absent).

        Parameters
        ----------
        data : Any
            ``run.trace`` as read from scenario.yaml; anything but a mapping gives the default.

        Returns
        -------
        TraceSchema
            The recorded schema; a secondary pair naming no value column is dropped.
        """
        if not isinstance(data, dict):
            return cls()
        values = tuple(str(v) for v in data.get("values") or cls.values)
        primary = str(data.get("primary") or values[-1])
        pairs = data.get("secondary") if isinstance(data.get("secondary"), list) else []
        secondary = tuple(
            (str(p[0]), str(p[1])) for p in pairs
            if isinstance(p, list) and len(p) == 2 and str(p[0]) in values
        )  # fmt: skip
        return cls(values, primary, str(data.get("description") or primary), secondary)


class DrawingRecord(TypedDict):
    """How a run's space is drawn, as scenario.yaml's ``run.drawing`` records it.

    The engine writes what the run's manifold says (``Manifold.drawing().to_dict()``); the report
    reads it back with :func:`read_drawing` and never asks the geometry.

    Attributes
    ----------
    boundary_radius : float or None
        Radius of a circle drawn around the origin (None: no boundary).
    extent : float or None
        Half-width of a fixed square view around the origin (None: fit the view to the points).
    distance : str
        Plain-text name of the traced squared distance (e.g. ``geodesic W2^2``).
    """

    boundary_radius: float | None
    extent: float | None
    distance: str


def read_drawing(data: Any) -> DrawingRecord:
    """The drawing a run recorded; the flat-space drawing if it is absent or malformed.

    Parameters
    ----------
    data : Any
        ``run.drawing`` as read from scenario.yaml.

    Returns
    -------
    DrawingRecord
        Numbers as floats; a missing or malformed record gives no boundary, a view fitted to
        the points and ``W2^2``.
    """
    flat: DrawingRecord = {"boundary_radius": None, "extent": None, "distance": "W2^2"}
    if not isinstance(data, dict):
        return flat
    try:
        radius, extent = data.get("boundary_radius"), data.get("extent")
        return {
            "boundary_radius": None if radius is None else float(radius),
            "extent": None if extent is None else float(extent),
            "distance": str(data.get("distance") or flat["distance"]),
        }
    except (TypeError, ValueError):
        return flat
