"""The run-directory contract: file names, columns, quartiles, atomic writers and readers.

The engine writes a run folder through this module and the report reads it through this module
only. Every file is written atomically (a temporary file in the same folder, then a rename), so an
interrupted run leaves complete files for the steps it finished, never a half-written one. Every
reader turns a damaged file into a one-line ``RunDirError`` that names the file and the fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from sliceflow.errors import RunDirError

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


@dataclass(frozen=True)
class TraceSchema:
    """What a run's trace.csv holds: ``method,seed,step,<values...>,elapsed_s``.

    ``primary`` is the value column the summary and the figures show (quartiles of its log10 over
    seeds); ``description`` names it in words for the reports (e.g. ``exact W2^2``).
    ``secondary``: (column, description) of other traced distances, each drawn in a figure of
    its own (e.g. ``("sw2sq", "SW2^2 with 1,000 fixed directions")``).
    """

    values: tuple[str, ...] = ("loss", "w2sq")
    primary: str = "w2sq"
    description: str = "exact W2^2"
    secondary: tuple[tuple[str, str], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*KEY_COLUMNS, *self.values, "elapsed_s")

    def to_dict(self) -> dict[str, Any]:
        data = {**asdict(self), "values": list(self.values)}
        data["secondary"] = [list(pair) for pair in self.secondary]
        if not self.secondary:
            del data["secondary"]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> TraceSchema:
        """The schema a run recorded in scenario.yaml (the particle-flow schema if absent)."""
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


@dataclass(frozen=True)
class Drawing:
    """How a manifold's particles are drawn in two dimensions, for the reports.

    ``boundary_radius``: a circle drawn around the origin (None: no boundary); ``extent``: the
    half-width of a fixed square view around the origin (None: fit the view to the points);
    ``distance``: plain-text name of the traced squared distance.
    """

    boundary_radius: float | None = None
    extent: float | None = None
    distance: str = "W2^2"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Drawing:
        """The drawing a run directory recorded; the Euclidean default if absent or malformed."""
        if not isinstance(data, dict):
            return cls()
        try:
            radius, extent = data.get("boundary_radius"), data.get("extent")
            return cls(
                boundary_radius=None if radius is None else float(radius),
                extent=None if extent is None else float(extent),
                distance=str(data.get("distance") or cls.distance),
            )
        except (TypeError, ValueError):
            return cls()


class OutputSettings(BaseModel):
    """The ``output:`` section of a scenario: where a run goes and how its report is rendered."""

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


# -- statistics ------------------------------------------------------------------------------------
def quartiles_log10(values: np.ndarray) -> tuple[int, int, float, float, float]:
    """(n_seeds, n_diverged, q25, median, q75) of log10 of the finite values (NaN if none).

    ``log10(max(value, tiny))``, NumPy's linear percentiles; non-finite values count as diverged.
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    n_diverged = int(values.size - finite.size)
    if finite.size == 0:
        return int(values.size), n_diverged, math.nan, math.nan, math.nan
    logs = np.log10(np.maximum(finite, np.finfo(float).tiny))
    q25, med, q75 = np.percentile(logs, [25, 50, 75])
    return int(values.size), n_diverged, float(q25), float(med), float(q75)


def ordered_rows(rows: Iterable[tuple], labels: list[str]) -> list[tuple]:
    """Rows keyed ``(method, seed, step, ...)`` in a fixed order: step, method order, seed.

    Identical runs then write identical files (apart from timings), whatever order parallel
    workers finished in.
    """
    position = {label: i for i, label in enumerate(labels)}
    return sorted(rows, key=lambda r: (r[2], position.get(r[0], len(position)), r[0], r[1]))


def ordered_table_rows(keyed: Iterable[tuple[int, tuple]], labels: list[str]) -> list[tuple]:
    """Rows of a task's extra table, given as ``(step, (method, seed, ...))`` with the traced step
    that produced them, in the order of ``ordered_rows`` (step, method order, seed), step
    dropped: the table's own columns need not include the step."""
    position = {label: i for i, label in enumerate(labels)}

    def key(item):
        step, row = item
        return (step, position.get(row[0], len(position)), row[0], row[1])

    return [row for _, row in sorted(keyed, key=key)]


def summary_rows(rows: list[tuple], schema: TraceSchema) -> list[tuple]:
    """Per (method, step) in first-appearance order: n_seeds, n_diverged, quartiles of log10."""
    index = schema.columns.index(schema.primary)
    groups: dict[tuple[str, int], list[float]] = {}
    for row in rows:
        groups.setdefault((row[0], row[2]), []).append(row[index])
    return [(method, step, *quartiles_log10(np.array(v))) for (method, step), v in groups.items()]


# -- atomic writers --------------------------------------------------------------------------------
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else ("nan" if math.isnan(value) else repr(value))
    return value


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_fmt(v) for v in row] for row in rows)
    return atomic_write_bytes(path, buffer.getvalue().encode())


def write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_yaml(path: Path, data: dict) -> Path:
    return atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """What ``np.savez_compressed`` writes, with fixed entry dates: the same arrays give the
    same bytes (numpy stamps each entry with the time of writing)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())


CHECKPOINT_MAGIC = b"sliceflow checkpoint v1\n"


def write_checkpoint(path: Path, data: Any) -> Path:
    """``torch.save(data)`` behind a header and its SHA-256, so damage is always detected."""
    import torch

    buffer = io.BytesIO()
    torch.save(data, buffer)
    payload = buffer.getvalue()
    return atomic_write_bytes(path, CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload)


# -- readers ---------------------------------------------------------------------------------------
@dataclass
class MethodTrace:
    """One method's trace rows sorted by (seed, step); ``values`` maps each value column."""

    seeds: np.ndarray  # (R,) int
    steps: np.ndarray  # (R,) int
    values: dict[str, np.ndarray]  # column -> (R,)
    elapsed_s: np.ndarray  # (R,)
    primary: str

    @property
    def value(self) -> np.ndarray:
        """The primary column (inf for a diverged seed)."""
        return self.values[self.primary]

    def seed_series(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, primary values) of one seed, sorted by step."""
        mask = self.seeds == seed
        return self.steps[mask], self.value[mask]


@dataclass
class SummaryRow:
    method: str
    step: int
    n_seeds: int
    n_diverged: int
    q25: float
    median: float
    q75: float


def _number(text: str | None) -> float:
    return float(text) if text not in ("", None) else math.nan


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; RunDirError if it is unreadable or misses a column."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise RunDirError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected "
                    f"{','.join(columns)} ({REWRITE})"
                )
            return list(reader)
    except UnicodeDecodeError as error:
        raise RunDirError(f"{path}: not a text CSV file ({error.reason}); {REWRITE}") from None
    except (OSError, csv.Error) as error:
        raise RunDirError(f"{path}: unreadable ({error}); {REWRITE}") from None


def parsed(path: Path, reader, *args):
    """``reader(path, *args)``, with a malformed value turned into a one-line RunDirError."""
    try:
        return reader(path, *args)
    except RunDirError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise RunDirError(f"{path}: malformed content ({error}); {REWRITE}") from None


def read_trace(path: Path, schema: TraceSchema) -> tuple[list[str], dict[str, MethodTrace]]:
    """trace.csv -> (labels in order of first appearance, {label: MethodTrace})."""
    rows = read_csv(path, schema.columns)
    if not rows:
        raise RunDirError(f"{path}: no rows; the run stopped before its first traced step")
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row["method"], []).append(row)
    traces = {}
    for label, group in grouped.items():
        seeds = np.array([int(r["seed"]) for r in group])
        steps = np.array([int(r["step"]) for r in group])
        order = np.lexsort((steps, seeds))
        values = {c: np.array([_number(r[c]) for r in group])[order] for c in schema.values}
        elapsed = np.array([_number(r["elapsed_s"]) for r in group])[order]
        traces[label] = MethodTrace(seeds[order], steps[order], values, elapsed, schema.primary)
    return list(grouped), traces


def read_summary(path: Path) -> dict[str, list[SummaryRow]]:
    summary: dict[str, list[SummaryRow]] = {}
    for r in read_csv(path, SUMMARY_COLUMNS):
        summary.setdefault(r["method"], []).append(
            SummaryRow(r["method"], int(r["step"]), int(r["n_seeds"]), int(r["n_diverged"]),
                       _number(r["q25"]), _number(r["median"]), _number(r["q75"]))
        )  # fmt: skip
    for rows in summary.values():
        rows.sort(key=lambda s: s.step)
    return summary


def summary_from_trace(traces: dict[str, MethodTrace]) -> dict[str, list[SummaryRow]]:
    """The engine's summary recomputed from trace rows (when summary.csv is missing)."""
    summary = {}
    for label, trace in traces.items():
        summary[label] = [
            SummaryRow(label, int(step), *quartiles_log10(trace.value[trace.steps == step]))
            for step in np.unique(trace.steps)
        ]
    return summary


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [
        {"method": r["method"], "seed": int(r["seed"]), "step": int(r["step"]),
         "name": r["name"], "value": _number(r["value"])}
        for r in read_csv(path, METRIC_COLUMNS)
    ]  # fmt: skip


def read_scenario(path: Path) -> dict[str, Any]:
    """scenario.yaml as a dict ({} if absent); RunDirError if it is not a YAML mapping."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RunDirError(f"{path}{where}: not valid YAML; {REWRITE}") from None
    if data is not None and not isinstance(data, dict):
        raise RunDirError(f"{path}: not a mapping of keys; {REWRITE}")
    return data or {}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file (no pickles); RunDirError if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0][:80] if isinstance(error, zipfile.BadZipFile) else ""
        raise RunDirError(f"{path}: not a readable .npz archive {reason}; {REWRITE}") from None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """checkpoint.pt written by a run; RunDirError if it is missing, damaged or foreign."""
    import torch

    if not path.is_file():
        raise RunDirError(
            f"--resume: no {CHECKPOINT_FILE} in {str(path.parent)!r}; run without --resume or "
            "point --out at an interrupted run"
        )
    start_over = "run without --resume to start over, or choose another --out"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RunDirError(f"{path}: unreadable ({error.strerror}); {start_over}") from None
    head, digest = len(CHECKPOINT_MAGIC), slice(len(CHECKPOINT_MAGIC), len(CHECKPOINT_MAGIC) + 32)
    if not data.startswith(CHECKPOINT_MAGIC):
        raise RunDirError(f"{path}: not a sliceflow checkpoint; {start_over}")
    payload = data[head + 32 :]
    if hashlib.sha256(payload).digest() != data[digest]:
        raise RunDirError(f"{path}: damaged (its checksum does not match); {start_over}")
    saved = torch.load(io.BytesIO(payload), weights_only=False, map_location="cpu")
    if not isinstance(saved, dict) or saved.get("format") != "sliceflow-checkpoint":
        raise RunDirError(f"{path}: not a sliceflow checkpoint; {start_over}")
    return saved
