"""The report of a sweep: sweep.<format> (final median against each swept parameter, per method),
sweep.md and a self-contained sweep.html, and the best setting per method.

Read from sweep.yaml and sweep.csv through :mod:`sliceflow.sweepdir` (sweep.csv is re-aggregated
from the points' run folders on request); no flow is recomputed.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sliceflow import sweepdir
from sliceflow.report.document import _CSS, _html_table
from sliceflow.report.tables import markdown_table
from sliceflow.rundir import FIGURE_FORMATS, write_text
from sliceflow.sweepdir import SweepRow


@dataclass
class SweepReport:
    folder: Path
    record: dict
    paths: list[str]
    rows: list[SweepRow]
    quantity: str  # e.g. "log10 exact W2^2"

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(row.method for row in self.rows))


def load_sweep(folder: Path | str, threshold: float | None = None,
               aggregate: bool = True) -> SweepReport:  # fmt: skip
    """A sweep folder's record and rows; ``aggregate`` rewrites sweep.csv from the points."""
    folder = Path(folder)
    record = sweepdir.read_sweep(folder)
    paths = [str(p) for p in record["grid"]]
    if aggregate or not (folder / sweepdir.SWEEP_CSV).is_file():
        sweepdir.write_sweep_csv(folder, paths, sweepdir.aggregate(folder, record, threshold))
    rows = sweepdir.read_sweep_csv(folder, paths)
    return SweepReport(folder, record, paths, rows, _quantity(folder, record))


def _quantity(folder: Path, record: dict) -> str:
    from sliceflow.errors import RunDirError
    from sliceflow.rundir import SCENARIO_FILE, TraceSchema
    from sliceflow.rundir.readers import read_record

    for point in record["points"]:
        path = folder / point["name"] / SCENARIO_FILE
        if point.get("state") == "completed" and path.is_file():
            try:
                run = read_record(path).get("run") or {}
            except RunDirError:
                continue  # a damaged record names no quantity; another point's may
            return f"log10 {TraceSchema.from_dict(run.get('trace')).description}"
    return "log10 of the traced value"


def best_rows(report: SweepReport) -> list[SweepRow]:
    """Per method, the point with the lowest final median (NaN medians never win)."""
    best: dict[str, SweepRow] = {}
    for row in report.rows:
        if math.isnan(row.median):
            continue
        if row.method not in best or row.median < best[row.method].median:
            best[row.method] = row
    return [best[m] for m in report.methods if m in best]


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def table(report: SweepReport, rows: list[SweepRow] | None = None) -> tuple[list, list]:
    header = ["point", *report.paths, "method", "median [q25, q75]", "first below", "seconds"]
    cells = [[row.point, *(row.values[p] for p in report.paths), row.method,
              f"{_fmt(row.median)} [{_fmt(row.q25)}, {_fmt(row.q75)}]",
              "never" if row.first_below is None else str(row.first_below),
              f"{row.seconds:.2f}"] for row in (report.rows if rows is None else rows)]  # fmt: skip
    return header, cells


def _axis_values(texts: list[str]) -> tuple[np.ndarray | None, bool]:
    """Numbers of a swept path's values (None if any is not a number), and whether a log axis
    suits them (all positive, spanning at least a factor of 10)."""
    try:
        numbers = np.array([float(t) for t in texts])
    except ValueError:
        return None, False
    positive = bool((numbers > 0).all())
    return numbers, positive and numbers.max() / numbers.min() >= 10


def sweep_figure(report: SweepReport):
    """One panel per swept path: every point's final median with its q25-q75 bar, and a line
    through the best median over the other swept paths, one colour per method."""
    from sliceflow.report.style import math_name, method_color, new_figure

    figure = new_figure(4.2 * len(report.paths) + 1.5, 4.2)
    for index, path in enumerate(report.paths):
        ax = figure.add_subplot(1, len(report.paths), index + 1)
        texts = list(dict.fromkeys(str(v) for v in _grid_texts(report, path)))
        numbers, log = _axis_values(texts)
        position = {t: (numbers[i] if numbers is not None else i) for i, t in enumerate(texts)}
        for m, method in enumerate(report.methods):
            rows = [r for r in report.rows if r.method == method]
            x = np.array([position[r.values[path]] for r in rows], dtype=float)
            y = np.array([r.median for r in rows])
            bars = np.array([[r.median - r.q25 for r in rows], [r.q75 - r.median for r in rows]])
            color = method_color(m)
            ax.errorbar(x, y, yerr=bars, fmt="o", color=color, alpha=0.45, markersize=4)
            order = sorted(set(x.tolist()))
            best = [np.nanmin(y[x == v]) if np.isfinite(y[x == v]).any() else np.nan for v in order]
            ax.plot(order, best, "-", color=color, linewidth=2, label=method)
        if log:
            ax.set_xscale("log")
        if numbers is None:
            ax.set_xticks(range(len(texts)), texts, rotation=30)
        ax.set_xlabel(path)
        ax.set_ylabel(f"final median {math_name(report.quantity)}")
        ax.grid(alpha=0.3)
    figure.axes[-1].legend(loc="best", fontsize=9)
    figure.suptitle(f"{report.record.get('name', '')}: line = best over the other swept values")
    figure.tight_layout()
    return figure


def _grid_texts(report: SweepReport, path: str) -> list[str]:
    return [sweepdir.value_text(v) for v in report.record["grid"][path]]


def _unfinished(report: SweepReport) -> list[str]:
    return [f"{p['name']}: {p.get('state')}" + (f" ({p['message']})" if p.get("message") else "")
            for p in report.record["points"] if p.get("state") != "completed"]  # fmt: skip


def render_sweep(folder: Path | str, *, threshold: float | None = None, fmt: str | None = None,
                 aggregate: bool = True) -> list[Path]:  # fmt: skip
    """Write sweep.csv (if ``aggregate``), sweep.<fmt>, sweep.md and sweep.html; return them."""
    from sliceflow.errors import RunDirError
    from sliceflow.report.style import figure_png_bytes, save_figure

    fmt = (fmt or "png").lower()
    if fmt not in FIGURE_FORMATS:
        raise RunDirError(f"--format {fmt!r}: use {' or '.join(FIGURE_FORMATS)}")
    report = load_sweep(folder, threshold, aggregate)
    written = [report.folder / sweepdir.SWEEP_CSV] if aggregate else []
    png = None
    if report.rows:
        figure = sweep_figure(report)
        written.append(save_figure(figure, report.folder / f"sweep.{fmt}"))
        png = written[-1].read_bytes() if fmt == "png" else figure_png_bytes(figure)
    written.append(write_text(report.folder / "sweep.md", _markdown(report, fmt, png is not None)))
    written.append(write_text(report.folder / "sweep.html", _html(report, png)))
    return written


def _intro(report: SweepReport) -> str:
    points = report.record["points"]
    done = sum(p.get("state") == "completed" for p in points)
    grid = "; ".join(f"{path} = {', '.join(_grid_texts(report, path))}" for path in report.paths)
    return (f"{done} of {len(points)} points finished. Grid: {grid}. Values: {report.quantity} "
            "at the last step over the seeds (median [q25, q75]); first below: the first step "
            "whose median is under the threshold; seconds: the method's compute time.")  # fmt: skip


def _markdown(report: SweepReport, fmt: str, figure: bool) -> str:
    lines = [f"# sliceflow sweep: {report.record.get('name', '')}", "", _intro(report), ""]
    if best := best_rows(report):
        lines += ["## Best setting per method", "", markdown_table(*table(report, best)), ""]
    lines += ["## Every point", "", markdown_table(*table(report)), ""]
    if unfinished := _unfinished(report):
        lines += ["## Not finished", ""] + [f"- {line}" for line in unfinished] + [""]
    if figure:
        link = f"[sweep.{fmt}](sweep.{fmt})" if fmt == "pdf" else f"![sweep](sweep.{fmt})"
        lines += ["## Figure", "", link, ""]
    return "\n".join(lines)


def _html(report: SweepReport, png: bytes | None) -> str:
    title = html.escape(f"sliceflow sweep: {report.record.get('name', '')}")
    body = [f"<h1>{title}</h1>", f"<p>{html.escape(_intro(report))}</p>"]
    if best := best_rows(report):
        body += ["<h2>Best setting per method</h2>", _html_table(*table(report, best))]
    body += ["<h2>Every point</h2>", _html_table(*table(report))]
    if unfinished := _unfinished(report):
        items = "".join(f"<li>{html.escape(line)}</li>" for line in unfinished)
        body.append(f'<div class="warning"><h2>Not finished</h2><ul>{items}</ul></div>')
    if png is not None:
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        body.append(f'<h2>Figure</h2><figure><img src="{uri}" alt="sweep"></figure>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}'
            f"</title><style>{_CSS}</style></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")  # fmt: skip


__all__ = ["SweepReport", "best_rows", "load_sweep", "render_sweep", "sweep_figure", "table"]
