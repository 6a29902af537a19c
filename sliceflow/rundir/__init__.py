"""The run-directory contract: what a run folder holds, and how it is written and read.

The engine writes a run folder through this package and the report reads it through this
package only. Split by concern:

- :mod:`~sliceflow.rundir.layout`: file names, columns, the trace schema and the drawing record;
- :mod:`~sliceflow.rundir.settings`: the ``output:`` section of a scenario;
- :mod:`~sliceflow.rundir.statistics`: quartiles over seeds and the fixed row order;
- :mod:`~sliceflow.rundir.writers`: atomic writes (a temporary file, then a rename), so an
  interrupted run leaves complete files for the steps it finished, never a half-written one;
- :mod:`~sliceflow.rundir.readers`: readers that turn a damaged file into a one-line
  ``RunDirError`` naming the file and the fix;
- :mod:`~sliceflow.rundir.checkpoints`: checkpoint.pt behind a header and a checksum;
- :mod:`~sliceflow.rundir.guard`: which folders a run may write (never one of other files);
- :mod:`~sliceflow.rundir.lock`: a lock, so that one process at a time writes a folder.
"""

from __future__ import annotations

from sliceflow.rundir.checkpoints import CHECKPOINT_MAGIC, read_checkpoint, write_checkpoint
from sliceflow.rundir.guard import check_output_path, claim_run_folder
from sliceflow.rundir.layout import (
    CHECKPOINT_FILE,
    FIGURE_FORMATS,
    FINAL_FILE,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    METRICS_FILE,
    PARTICLES_FILE,
    REWRITE,
    SCENARIO_FILE,
    SUMMARY_COLUMNS,
    SUMMARY_FILE,
    TRACE_FILE,
    DrawingRecord,
    TraceSchema,
    read_drawing,
)
from sliceflow.rundir.lock import LOCK_FILE, FolderLock, FolderLocked, open_folder
from sliceflow.rundir.readers import (
    MethodTrace,
    SummaryRow,
    parsed,
    read_csv,
    read_metrics,
    read_npz,
    read_scenario,
    read_summary,
    read_trace,
    summary_from_trace,
)
from sliceflow.rundir.settings import OutputSettings
from sliceflow.rundir.statistics import (
    ordered_rows,
    ordered_table_rows,
    quartiles_log10,
    summary_rows,
)
from sliceflow.rundir.writers import (
    atomic_write_bytes,
    write_csv,
    write_npz,
    write_text,
    write_yaml,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_MAGIC",
    "FIGURE_FORMATS",
    "FINAL_FILE",
    "KEY_COLUMNS",
    "LOCK_FILE",
    "METRICS_FILE",
    "METRIC_COLUMNS",
    "PARTICLES_FILE",
    "REWRITE",
    "SCENARIO_FILE",
    "SUMMARY_COLUMNS",
    "SUMMARY_FILE",
    "TRACE_FILE",
    "DrawingRecord",
    "FolderLock",
    "FolderLocked",
    "MethodTrace",
    "OutputSettings",
    "SummaryRow",
    "TraceSchema",
    "atomic_write_bytes",
    "check_output_path",
    "claim_run_folder",
    "open_folder",
    "ordered_rows",
    "ordered_table_rows",
    "parsed",
    "quartiles_log10",
    "read_checkpoint",
    "read_csv",
    "read_drawing",
    "read_metrics",
    "read_npz",
    "read_scenario",
    "read_summary",
    "read_trace",
    "summary_from_trace",
    "summary_rows",
    "write_checkpoint",
    "write_csv",
    "write_npz",
    "write_text",
    "write_yaml",
]
