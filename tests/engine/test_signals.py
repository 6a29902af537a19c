"""Signals while a run folder is written: held until every file is complete, then delivered."""

from __future__ import annotations

import os
import signal

import pytest
import yaml

import sliceflow
from sliceflow.engine import RunInterrupted
from sliceflow.engine.book import RunBook
from sliceflow.engine.loop import held_signals
from sliceflow.rundir import read_checkpoint
from tests.helpers import small_scenario


def test_a_signal_is_held_while_files_are_written_then_delivered():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with held_signals() as held:
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the write went on")
            assert held == [signal.SIGINT]
    assert done == ["the write went on"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_during_the_last_write_loses_no_file(tmp_path, monkeypatch):
    write = RunBook.flush

    def flush(self, force=False):
        if self.interrupted:  # the write after the first Ctrl-C: here comes the second
            os.kill(os.getpid(), signal.SIGINT)
        write(self, force)

    def first(label, step, total):
        if step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunBook, "flush", flush)
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted) as caught:
        sliceflow.run(small_scenario(steps=20), out=out, render=False, on_progress=first)
    assert caught.value.result.completed_steps == {"swd": 3}
    assert read_checkpoint(out / "checkpoint.pt")["completed"] == {"swd": 3}
    run = yaml.safe_load((out / "scenario.yaml").read_text())["run"]
    assert run["interrupted"] is True and run["completed_steps"] == {"swd": 3}
    assert len((out / "trace.csv").read_text().splitlines()) == 1 + 3 * 4  # steps 0..3, 3 seeds
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
