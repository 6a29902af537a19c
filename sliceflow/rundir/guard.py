"""Who may write a run folder: never a folder of other files, and one writer at a time.

A run replaces the files of its folder, so before its first step the engine claims the folder:

- :func:`check_output_path` refuses an output folder that is the current folder or above it, the
  home folder or the filesystem root (a run there would replace the user's files);
- :func:`claim_run_folder` accepts an empty or missing folder, continues a run (``resume``) or
  replaces one (``overwrite``: only the files sliceflow writes are removed), and refuses any other
  folder; it creates the folder, proves it writable and locks it;
- :class:`~sliceflow.rundir.lock.FolderLock` (:mod:`~sliceflow.rundir.lock`) is an exclusive
  lock on ``.sliceflow.lock`` inside the folder: a second writer gets one line.

Files sliceflow writes in a run folder (:func:`written_by_sliceflow`): those of
:mod:`~sliceflow.rundir.layout`, the tables of the tasks, report.md/html, figures and GIFs
(``.png``, ``.pdf``, ``.gif``), the lock, and the temporary files of an interrupted atomic write.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path

from sliceflow.errors import RunDirError
from sliceflow.rundir.checkpoints import CHECKPOINT_MAGIC
from sliceflow.rundir.layout import (
    CHECKPOINT_FILE,
    FINAL_FILE,
    METRICS_FILE,
    PARTICLES_FILE,
    SCENARIO_FILE,
    SUMMARY_FILE,
    TRACE_FILE,
)
from sliceflow.rundir.lock import (
    LOCK_FILE,
    PROBE_PREFIX,
    FolderLock,
    check_unlocked,
    open_folder,
    os_reason,
)

RUN_FILES = frozenset({TRACE_FILE, SUMMARY_FILE, METRICS_FILE, PARTICLES_FILE, FINAL_FILE,
                       SCENARIO_FILE, CHECKPOINT_FILE, "report.md", "report.html"})  # fmt: skip
FIGURE_SUFFIXES = (".png", ".pdf", ".gif")
MAX_SCENARIO_BYTES = 16 << 20  # a run's scenario.yaml is a few kB; do not parse a huge file
SHOWN = 3  # foreign files named in a message


def check_output_path(path: Path, source: str) -> Path:
    """Refuse an output folder that resolves to the current folder or above it, home or ``/``.

    Parameters
    ----------
    path : Path
        The output folder, as given.
    source : str
        Where it came from, for the message (``--out``, ``output.dir``...).

    Returns
    -------
    Path
        ``path``, unchanged.
    """
    try:
        resolved, here = path.resolve(), Path.cwd().resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop, a deleted current folder
        raise RunDirError(f"{source} {str(path)!r}: cannot resolve this path ({error}); "
                          "give another output folder") from None  # fmt: skip
    try:
        home = Path.home().resolve()
    except (OSError, RuntimeError, KeyError):
        home = None
    roots = [here, *([home] if home is not None else [])]
    if resolved == Path(resolved.anchor) or any(p.is_relative_to(resolved) for p in roots):
        raise RunDirError(
            f"{source} {str(path)!r} is {resolved}: the current folder, one above it, home or "
            "the root; a run replaces files in its folder, so give it a folder of its own "
            "(e.g. --out runs/NAME)"
        )
    return path


def written_by_sliceflow(name: str, tables: Collection[str] = ()) -> bool:
    """True if a file of this name in a run folder is one sliceflow writes.

    Parameters
    ----------
    name : str
        A file name (no folder).
    tables : collection of str
        The extra tables of the tasks (``Task.tables``: ``weights.csv``...).
    """
    if name == LOCK_FILE or name.startswith(PROBE_PREFIX):
        return True
    if name.startswith(".") and "." in name[1:]:  # ".trace.csv.k3j9": a temporary atomic write
        return _leftover(name, tables) or name.endswith(FIGURE_SUFFIXES)
    return name in RUN_FILES or name in tables or name.endswith(FIGURE_SUFFIXES)


def _leftover(name: str, tables: Collection[str]) -> bool:
    base = name[1:].rsplit(".", 1)[0]
    return not base.startswith(".") and written_by_sliceflow(base, tables)


def _entries(folder: Path, tables: Collection[str]) -> tuple[list[str], list[str]]:
    """(sliceflow's files, other entries) of ``folder``; sub-folders are never sliceflow's."""
    own, other = [], []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                mine = not entry.is_dir(follow_symlinks=False) and written_by_sliceflow(
                    entry.name, tables
                )
                (own if mine else other).append(entry.name)
    except OSError as error:
        raise RunDirError(f"{folder}: cannot read this folder ({os_reason(error)}); choose a "
                          "folder you can write with --out") from None  # fmt: skip
    return sorted(own), sorted(other)


def is_empty(folder: Path) -> bool:
    """True if ``folder`` is missing or holds nothing but a lock and temporary files."""
    if not folder.is_dir():
        return not folder.exists()
    own, other = _entries(folder, ())
    return not other and all(_scratch(name) for name in own)


def _scratch(name: str) -> bool:
    return name == LOCK_FILE or name.startswith(PROBE_PREFIX) or (
        name.startswith(".") and "." in name[1:] and written_by_sliceflow(name))  # fmt: skip


def run_state(folder: Path) -> str | None:
    """``"finished"`` or ``"interrupted"`` if ``folder`` holds a sliceflow run, else None.

    A run is marked by its scenario.yaml's ``run:`` section (the engine adds it) or by a
    checkpoint.pt that starts with the checkpoint header.
    """
    from sliceflow.rundir.readers import read_scenario

    path = folder / SCENARIO_FILE
    if _regular(path, MAX_SCENARIO_BYTES):
        try:
            run = read_scenario(path).get("run")
        except RunDirError:
            run = None
        if isinstance(run, dict):
            return "finished" if run.get("interrupted") is False else "interrupted"
    path = folder / CHECKPOINT_FILE
    if _regular(path):
        try:
            with path.open("rb") as stream:
                if stream.read(len(CHECKPOINT_MAGIC)) == CHECKPOINT_MAGIC:
                    return "interrupted"
        except OSError:
            pass
    return None


def _regular(path: Path, limit: int | None = None) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and (limit is None or info.st_size <= limit)


def claim_run_folder(folder: Path, *, resume: bool = False, overwrite: bool = False,
                     tables: Collection[str] = ()) -> FolderLock:  # fmt: skip
    """Create, lock and prepare the run folder ``folder``; the caller releases the lock.

    Parameters
    ----------
    folder : Path
        The run folder.
    resume : bool
        Continue the run it holds (its checkpoint is checked by the caller).
    overwrite : bool
        Replace the run it holds: its sliceflow files are removed (other files: refused).
    tables : collection of str
        The tasks' extra tables, files sliceflow writes.

    Returns
    -------
    FolderLock
        The held lock.

    Raises
    ------
    RunDirError
        One line: the folder holds another run or other files, cannot be written, or is being
        written by another process (:class:`FolderLocked`).
    """
    _check_claim(folder, resume, overwrite, tables)  # before anything is created in it
    lock = open_folder(folder)
    try:
        _check_claim(folder, resume, overwrite, tables, held=True)  # again, no one else writing
        if overwrite and run_state(folder) is not None:
            for name in _entries(folder, tables)[0]:
                if name != LOCK_FILE:
                    (folder / name).unlink(missing_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_claim(folder: Path, resume: bool, overwrite: bool, tables: Collection[str],
                 held: bool = False) -> None:  # fmt: skip
    if folder.exists() and not folder.is_dir():
        raise RunDirError(f"{folder} is a file, not a folder; choose another --out")
    if resume or is_empty(folder):
        return
    if not held:  # a run still being written says so, not "an interrupted run"
        check_unlocked(folder)
    own, other = _entries(folder, tables)
    state = run_state(folder)
    if state is None:
        raise RunDirError(
            f"{folder} holds files that are not a sliceflow run ({_names(own + other)}); "
            "choose another --out (sliceflow never replaces files it did not write)"
        )
    if overwrite and other:
        raise RunDirError(
            f"--overwrite: {folder} also holds files sliceflow did not write "
            f"({_names(other)}); move them elsewhere or choose another --out"
        )
    if not overwrite:
        what = "a finished" if state == "finished" else "an interrupted"
        resume_it = "" if state == "finished" else "--resume to continue it, "
        raise RunDirError(f"{folder} holds {what} run; use {resume_it}--overwrite to replace it, "
                          "or choose another --out")  # fmt: skip


def _names(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


__all__ = ["check_output_path", "claim_run_folder", "is_empty", "run_state",
           "written_by_sliceflow"]  # fmt: skip
