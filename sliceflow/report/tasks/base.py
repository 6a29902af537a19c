"""What a task's report adds to the figures and tables every run has."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from sliceflow.report.io import RunData
from sliceflow.rundir import OutputSettings

# ``static(figure, caption, stem)`` saves a figure as ``<stem>.<format>`` and embeds it.
SaveStatic = Callable[[object, str, str], None]
Section = tuple[str, list[str], list[list[str]]]  # (title, header, rows) of report.md/html


class TaskReport:
    """The figures and tables only one kind of run has; by default none (the generic report).

    Every run gets the trace figures, the metric figures and report.md/html; a task adds to
    them by subclassing this, overriding one or both hooks and registering the subclass under
    the task's name (``@register_report("plan")``, :mod:`sliceflow.report.tasks`). A task with
    no registered report gets this class: the generic trace report. Reports read the run
    folder only; nothing is recomputed.
    """

    name: ClassVar[str] = ""

    def render(
        self, run: RunData, options: OutputSettings, figures: list, static: SaveStatic
    ) -> list[Path]:
        """Draw the task's figures and GIFs.

        Parameters
        ----------
        run : RunData
            The run folder as read.
        options : OutputSettings
            The rendering options (format, GIF settings, seed shown).
        figures : list of EmbeddedFigure
            The documents' figures; append any GIF to embed it (``static`` embeds its figure).
        static : callable
            ``static(figure, caption, stem)`` saves and embeds a static figure.

        Returns
        -------
        list of Path
            The files written other than through ``static`` (GIFs).
        """
        return []

    def sections(self, run: RunData) -> list[Section]:
        """Extra tables of report.md/html, as (title, header, rows)."""
        return []
