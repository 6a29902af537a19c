"""Which folders a run may write: never another run without --resume or --overwrite, never a
folder of other files, never the current folder or above it; one writer at a time; an
unwritable folder is refused before the first step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

import sliceflow
from sliceflow.engine import RunInterrupted
from sliceflow.errors import RunDirError
from sliceflow.rundir import LOCK_FILE, FolderLock, FolderLocked
from sliceflow.rundir.guard import written_by_sliceflow
from tests.helpers import REPO, small_scenario


def _run(out, steps=4, **options):
    return sliceflow.run(small_scenario(steps=steps), out=out, render=False, **options)


def _interrupted(out, at=2):
    def stop(label, step, total):
        if step == at:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        _run(out, steps=20, on_progress=stop)


def _files(folder):
    return {p.name: p.read_bytes() if p.is_file() else "folder" for p in folder.iterdir()}


def test_a_finished_run_is_kept_unless_overwrite_is_given(tmp_path):
    out = tmp_path / "run"
    _run(out)
    before = _files(out)
    with pytest.raises(RunDirError, match=r"holds a finished run; use --overwrite to replace it"):
        _run(out, steps=2)
    assert _files(out) == before
    # --overwrite replaces it: stale figures and temporary files of the old run go too
    (out / "trace.png").write_bytes(b"old figure")
    (out / ".trace.csv.k3j9a1").write_bytes(b"half a write")
    result = _run(out, steps=2, overwrite=True)
    assert result.completed_steps == {"swd": 2}
    assert not (out / "trace.png").exists() and not (out / ".trace.csv.k3j9a1").exists()
    assert yaml.safe_load((out / "scenario.yaml").read_text())["steps"] == 2


def test_an_interrupted_run_keeps_its_progress_and_the_message_says_resume(tmp_path):
    out = tmp_path / "run"
    _interrupted(out)
    checkpoint = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(RunDirError, match=r"interrupted run; use --resume to continue it, "):
        _run(out, steps=20)
    assert (out / "checkpoint.pt").read_bytes() == checkpoint
    assert yaml.safe_load((out / "scenario.yaml").read_text())["run"]["completed_steps"] == {
        "swd": 2
    }
    assert _run(out, steps=20, resume=True).completed_steps == {"swd": 20}


def test_a_folder_of_other_files_is_never_written(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("name: my own notes\n")  # no run: section
    (folder / "trace.png").write_bytes(b"my figure")
    before = _files(folder)
    for overwrite in (False, True):
        with pytest.raises(RunDirError, match=r"not a sliceflow run \(scenario.yaml, trace.png\)"):
            _run(folder, overwrite=overwrite)
    assert _files(folder) == before


def test_overwrite_refuses_a_run_that_holds_other_files_and_deletes_nothing(tmp_path):
    out = tmp_path / "run"
    _run(out)
    (out / "notes.txt").write_text("mine")
    (out / "analysis").mkdir()
    before = _files(out)
    with pytest.raises(RunDirError, match=r"--overwrite: .* sliceflow did not write \(analysis, "
                       r"notes.txt\); move them elsewhere"):  # fmt: skip
        _run(out, overwrite=True)
    assert _files(out) == before


def test_empty_or_missing_folders_and_a_stale_lock_file_are_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    _run(tmp_path / "empty")
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / LOCK_FILE).write_text("999999\n")  # left by a killed process: not held
    _run(stale)
    _run(tmp_path / "a" / "b" / "c")
    assert not (stale / LOCK_FILE).exists()  # the lock file goes with the lock


def test_resume_and_overwrite_together_are_refused(tmp_path):
    with pytest.raises(RunDirError, match="give one of them"):
        _run(tmp_path / "run", resume=True, overwrite=True)


@pytest.mark.parametrize("given", ["", ".", "..", "sub/../.."])
def test_output_paths_at_or_above_the_current_folder_are_refused(tmp_path, monkeypatch, given):
    here = tmp_path / "here"
    (here / "sub").mkdir(parents=True)
    (here / "notes.txt").write_text("mine")
    monkeypatch.chdir(here)
    with pytest.raises(RunDirError, match=r"the current folder, one above it, home or the root"):
        _run(given)
    scenario = {**small_scenario(steps=2), "output": {"gif": False, "dir": given or "."}}
    with pytest.raises(RunDirError, match=r"^output.dir "):
        sliceflow.run(scenario, render=False)
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt", "sub"]
    for folder in ("/", os.path.expanduser("~")):
        with pytest.raises(RunDirError, match="home or the root"):
            _run(folder)


def test_a_file_or_an_unwritable_path_is_refused_before_the_first_step(tmp_path):
    steps = []

    def count(label, step, total):
        steps.append(step)

    (tmp_path / "file").write_text("x")
    cases = {tmp_path / "file": "is a file, not a folder", "/dev/null": "is a file",
             tmp_path / "file" / "run": "cannot create this folder",
             "/proc/sliceflow-run": "cannot create this folder"}  # fmt: skip
    for out, message in cases.items():
        with pytest.raises(RunDirError, match=message):
            _run(out, on_progress=count)
    assert steps == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_refused_before_the_first_step(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    steps = []
    try:
        with pytest.raises(RunDirError, match="cannot write in this folder"):
            _run(folder, on_progress=lambda *progress: steps.append(progress))
        with pytest.raises(RunDirError, match="cannot create this folder"):
            _run(folder / "run", on_progress=lambda *progress: steps.append(progress))
    finally:
        folder.chmod(0o700)
    assert steps == []


def test_a_folder_another_process_writes_is_refused_with_its_pid(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with FolderLock(out):  # as a run of this process would hold it
        with pytest.raises(
            FolderLocked,
            match=rf"being written by another sliceflow process "
            rf"\(pid {os.getpid()}\); wait for it or choose another --out",
        ):
            _run(out)
    _run(out)
    with FolderLock(out):  # a run still being written is not called "a finished run"
        with pytest.raises(FolderLocked, match="being written by another sliceflow process"):
            _run(out)
    (out / "trace.csv").unlink()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from sliceflow.rundir import FolderLock; FolderLock(Path(sys.argv[1])).acquire(); "
         "print('held', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked, match=rf"\(pid {holder.pid}\)"):
            _run(out)
    finally:
        holder.kill()
        holder.wait()
    _run(out, overwrite=True)  # the system let go of the dead holder's lock
    assert not (out / LOCK_FILE).exists()


def test_the_files_sliceflow_writes():
    for name in ("trace.csv", "checkpoint.pt", "report.html", "flow_swd.gif", "trace.pdf",
                 ".trace.csv.k3j9a1", LOCK_FILE, "weights.csv"):  # fmt: skip
        assert written_by_sliceflow(name, {"weights.csv"}), name
    for name in ("notes.txt", "data.npy", "weights.csv", ".bashrc", "..trace.csv.x", "run.py"):
        assert not written_by_sliceflow(name), name


def test_a_sweep_folder_another_driver_writes_is_refused(tmp_path):
    from sliceflow.engine.sweep import sweep
    from tests.engine.sweep_helpers import sweep_scenario

    path = sweep_scenario(tmp_path / "scenario.yaml")
    (tmp_path / "out").mkdir()
    with FolderLock(tmp_path / "out"):
        with pytest.raises(FolderLocked, match=rf"\(pid {os.getpid()}\)"):
            sweep(path, ["steps=2,3"], out=tmp_path / "out", max_parallel=1)
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


@pytest.mark.slow
def test_a_sweep_point_still_written_elsewhere_fails_in_one_line_and_the_rerun_finishes(tmp_path):
    # as when a killed driver's worker still writes the point while the sweep is run again
    from sliceflow.engine.sweep import sweep
    from tests.engine.sweep_helpers import sweep_scenario

    path = sweep_scenario(tmp_path / "scenario.yaml", steps=3)
    busy = tmp_path / "out" / "steps=2"

    def again():
        result = sweep(path, ["steps=2,3"], out=tmp_path / "out", max_parallel=1, render=False)
        return result, next(p["message"] for p in result.points if p["name"] == "steps=2")

    assert again()[0].states("completed") == ["steps=2", "steps=3"]
    (busy / "trace.csv").unlink()  # unfinished again: the next sweep continues it
    with FolderLock(busy):
        second, message = again()
    assert second.states("failed") == ["steps=2"] and second.states("completed") == ["steps=3"]
    assert message == (f"{busy} is being written by another sliceflow process (pid "
                       f"{os.getpid()}); wait for it or choose another --out")  # fmt: skip
    assert again()[0].states("completed") == ["steps=2", "steps=3"]
