"""A full disk (or a read-only folder): one line naming the file, checkpoint.pt first, --resume.

The disk is made "full" by an ``os.write`` that refuses (ENOSPC) the temporary files of chosen
files of the run folder, as the kernel would once the disk fills up; every other write goes on.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.errors import RunDirError, RunDirWriteError
from sliceflow.rundir import atomic_write_bytes, read_checkpoint
from sliceflow.rundir.lock import LOCK_FILE
from tests.helpers import small_scenario

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
METHODS = [{"method": "swd", "lr": 1.0}, {"method": "max_sw", "lr": 1.0, "inner_steps": 2}]


def scenario_dict():
    return small_scenario(steps=6, seeds=2, methods=METHODS, snapshots={"every": 3})


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(folder, allowed)``: from now on, writes into ``folder`` fail with ENOSPC,
    except to the files named in ``allowed``; returns the names refused so far."""
    real_write = os.write
    refused: list[str] = []

    def fill(folder: Path, allowed=()):
        folder = Path(folder).resolve()

        def write(handle: int, data) -> int:
            try:
                target = Path(os.readlink(f"/proc/self/fd/{handle}"))
            except OSError:
                return real_write(handle, data)
            if target.name == LOCK_FILE:  # the disk fills once the run has its folder
                return real_write(handle, data)
            # atomic_write_bytes writes ".<name>.<random>" beside <name>
            name = target.name[1:].rsplit(".", 1)[0] if target.name.startswith(".") else ""
            if target.parent == folder and name and name not in allowed:
                refused.append(name)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(handle, data)

        monkeypatch.setattr(os, "write", write)
        return refused

    yield fill
    monkeypatch.setattr(os, "write", real_write)


def test_a_refused_write_is_one_line_and_leaves_the_old_file_as_it_was(tmp_path, full_disk):
    path = atomic_write_bytes(tmp_path / "data.csv", b"old")
    full_disk(tmp_path)
    with pytest.raises(RunDirWriteError) as refused:
        atomic_write_bytes(path, b"new")
    message = str(refused.value)
    assert message == (f"{path}: could not be written (No space left on device); free space on "
                       "that disk, then try again")  # fmt: skip
    assert isinstance(refused.value, RunDirError) and refused.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [path]


def test_a_file_where_the_folder_should_be_is_one_line(tmp_path):
    (tmp_path / "taken").write_text("")
    refused = r"x.csv: could not be written \(File exists\); check the path"
    with pytest.raises(RunDirWriteError, match=refused):
        atomic_write_bytes(tmp_path / "taken" / "x.csv", b"x")


def test_the_checkpoint_is_written_first_and_the_line_says_what_is_complete(tmp_path, full_disk):
    out = tmp_path / "run"
    refused = full_disk(out, allowed=("checkpoint.pt",))
    with pytest.raises(RunDirWriteError) as stopped:
        sliceflow.run(scenario_dict(), out=out, render=False)
    assert refused == ["trace.csv"]
    assert str(stopped.value) == (
        f"{out / 'trace.csv'}: could not be written (No space left on device); checkpoint.pt is "
        "complete: free space on that disk, then run again with --resume to write the rest"
    )
    assert read_checkpoint(out / "checkpoint.pt")["completed"] == {"swd": 6}
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no temporary file


def test_no_checkpoint_written_yet_says_nothing_was_saved(tmp_path, full_disk):
    out = tmp_path / "run"
    full_disk(out)
    nothing = r"checkpoint.pt: could not be written .*; nothing of this run could be saved: free"
    with pytest.raises(RunDirWriteError, match=nothing):
        sliceflow.run(scenario_dict(), out=out, render=False)
    assert not out.exists() or not any(out.iterdir())


def test_a_refused_checkpoint_keeps_the_previous_save_whole(tmp_path, full_disk):
    out = tmp_path / "run"
    full_disk(out, allowed=("checkpoint.pt",))
    with pytest.raises(RunDirWriteError):
        sliceflow.run(scenario_dict(), out=out, render=False)
    before = (out / "checkpoint.pt").read_bytes()
    full_disk(out)  # now the checkpoint too
    kept = rf"checkpoint.pt: could not be written .*; {out} keeps its previous save whole: free"
    with pytest.raises(RunDirWriteError, match=kept + ".*--resume"):
        sliceflow.run(scenario_dict(), out=out, render=False, resume=True)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_the_cli_says_one_line_exits_2_and_resume_finishes(tmp_path, full_disk, write_scenario):
    path, out = write_scenario(scenario_dict()), tmp_path / "run"
    args = ["run", str(path), "--out", str(out), "--no-gif", "--no-progress", "--jobs", "1"]
    refused = full_disk(out, allowed=("checkpoint.pt",))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    assert "trace.csv: could not be written (No space left on device)" in lines[0]
    assert refused and (out / "checkpoint.pt").is_file()
    full_disk(tmp_path / "elsewhere")  # the disk has room again
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    sliceflow.run(scenario_dict(), out=tmp_path / "clean", render=False)
    assert _values(out / "trace.csv") == _values(tmp_path / "clean" / "trace.csv")


def _values(path: Path) -> list[str]:
    """The lines of a trace.csv less their elapsed_s column (a time, not a result)."""
    return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]


def test_a_gif_that_cannot_be_written_is_one_error_and_leaves_no_temporary_file(
    tmp_path, monkeypatch
):
    import errno

    from PIL import Image

    from sliceflow.errors import RunDirWriteError
    from sliceflow.report import gif

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gif.FramePillowWriter, "finish", full)  # where Pillow writes the file
    frames = [Image.new("RGB", (32, 32)) for _ in range(2)]
    with pytest.raises(RunDirWriteError, match="flow_a.gif: could not be written"):
        gif.write_gif(frames, tmp_path / "flow_a.gif", fps=4)
    assert list(tmp_path.iterdir()) == []


def test_a_disk_full_from_the_start_still_locks_and_says_so_in_one_line(tmp_path, monkeypatch):
    real_write = os.write

    def full(handle: int, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(RunDirWriteError, match="could not be written .No space left on device"):
        sliceflow.run(scenario_dict(), out=tmp_path / "run", render=False)
    monkeypatch.setattr(os, "write", real_write)
    assert not (tmp_path / "run" / LOCK_FILE).exists()  # released on the way out
