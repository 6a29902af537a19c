"""report.md and a self-contained report.html (every figure embedded as a base64 data URI)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from sliceflow.report.io import RunData, is_interrupted
from sliceflow.report.tables import (
    STATS_HEADER,
    markdown_table,
    scenario_table,
    stats_table,
    unfinished_lines,
)
from sliceflow.rundir import OutputSettings, write_text


@dataclass
class EmbeddedFigure:
    """A figure file next to the report, and the bytes the HTML embeds (PNG even for a PDF)."""

    caption: str
    filename: str
    data: bytes
    mime: str  # image/png or image/gif


def _intro(run: RunData, options: OutputSettings) -> list[str]:
    return [
        f"{run.quantity} over seeds, read from "
        f"{run.summary_source}. first / middle / last: median [q25, q75] @step at the first, "
        "middle and last traced step; below threshold: the first step whose median is under "
        f"{options.threshold:g}; ms / step: wall time per flow step (elapsed_s); diverged: "
        "seeds diverged by the last step / all seeds.",
    ]


DAMAGED = ("Some rows could not be used and were left out; the figures and tables show the "
           "rest. Re-run the scenario to rewrite the files.")  # fmt: skip

Section = tuple[str, list[str], list[list[str]]]  # (title, header, rows) of a task's own table


def render_markdown(run: RunData, options: OutputSettings, figures: list[EmbeddedFigure],
                    sections: list[Section] = ()) -> str:  # fmt: skip
    lines = [f"# sliceflow report: {run.name}", ""]
    lines += [markdown_table(["scenario", ""], scenario_table(run)), ""]
    if is_interrupted(run):
        lines += ["## Interrupted run", "", "The run did not finish; missing steps:", ""]
        lines += [f"- {line}" for line in unfinished_lines(run)] or ["- (no step count recorded)"]
        lines.append("")
    if run.warnings:
        lines += ["## Damaged files", "", DAMAGED, ""] + [f"- {line}" for line in run.warnings]
        lines.append("")
    lines += ["## Methods", ""] + _intro(run, options) + [""]
    lines += [markdown_table(STATS_HEADER, stats_table(run, options.threshold)), ""]
    for title, header, rows in sections:
        lines += [f"## {title}", "", markdown_table(header, rows), ""]
    lines += ["## Figures", ""]
    for figure in figures:
        if figure.filename.endswith(".pdf"):
            lines += [f"{figure.caption}: [{figure.filename}]({figure.filename})", ""]
        else:
            lines += [f"![{figure.caption}]({figure.filename})", ""]
    return "\n".join(lines)


def _html_table(header: list[str] | None, rows: list[list[str]]) -> str:
    parts = ["<table>"]
    if header:
        parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    return "\n".join(parts)


_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0f0f0; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
.warning { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }
"""


def render_html(run: RunData, options: OutputSettings, figures: list[EmbeddedFigure],
                sections: list[Section] = ()) -> str:  # fmt: skip
    title = html.escape(f"sliceflow report: {run.name}")
    body = [f"<h1>{title}</h1>", _html_table(["scenario", ""], scenario_table(run))]
    if is_interrupted(run):
        items = "".join(f"<li>{html.escape(line)}</li>" for line in unfinished_lines(run))
        body.append(
            '<div class="warning"><h2>Interrupted run</h2>'
            f"<p>The run did not finish; missing steps:</p><ul>{items}</ul></div>"
        )
    if run.warnings:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in run.warnings)
        body.append(f'<div class="warning"><h2>Damaged files</h2><p>{DAMAGED}</p>'
                    f"<ul>{items}</ul></div>")  # fmt: skip
    body += ["<h2>Methods</h2>"] + [f"<p>{html.escape(p)}</p>" for p in _intro(run, options)]
    body.append(_html_table(STATS_HEADER, stats_table(run, options.threshold)))
    for title, header, rows in sections:
        body += [f"<h2>{html.escape(title)}</h2>", _html_table(header, rows)]
    body.append("<h2>Figures</h2>")
    for figure in figures:
        uri = f"data:{figure.mime};base64," + base64.b64encode(figure.data).decode("ascii")
        caption = html.escape(f"{figure.caption} ({figure.filename})")
        body.append(
            f'<figure><img src="{uri}" alt="{html.escape(figure.caption)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_documents(
    run: RunData,
    options: OutputSettings,
    figures: list[EmbeddedFigure],
    sections: list[Section] = (),
) -> list[Path]:
    return [
        write_text(run.run_dir / "report.md", render_markdown(run, options, figures, sections)),
        write_text(run.run_dir / "report.html", render_html(run, options, figures, sections)),
    ]
