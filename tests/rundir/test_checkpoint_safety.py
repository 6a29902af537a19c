"""checkpoint.pt holds data only: no code runs from a run folder, and what is read is checked.

The hostile files are made here: a pickled object whose ``__reduce__`` runs a shell command,
behind a correctly recomputed v2 header and checksum (a checksum is no signature), and real
checkpoints whose parts were swapped for the wrong types.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shlex
import shutil
from collections import OrderedDict

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import sliceflow
from sliceflow.cli import app
from sliceflow.engine.result import RunInterrupted
from sliceflow.errors import RunDirError
from sliceflow.rundir import CHECKPOINT_MAGIC, read_checkpoint, write_checkpoint
from sliceflow.rundir._codec import TAG, decode, encode
from tests.helpers import small_scenario

METHODS = [{"method": "swd", "lr": 1.0}, {"method": "max_sw", "lr": 1.0, "inner_steps": 2}]


class Marker:
    """Unpickling it runs ``touch <path>``: what a crafted checkpoint would do."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.path))}",)


def framed(payload: bytes) -> bytes:
    """``payload`` behind this version's header and its SHA-256, as sliceflow frames it."""
    return CHECKPOINT_MAGIC + hashlib.sha256(payload).digest() + payload


def torch_saved(data) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def scenario_dict():
    return small_scenario(steps=12, seeds=2, methods=METHODS, snapshots={"every": 4})


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run of two methods cut at step 9 of the second one (its last snapshot: step 8)."""
    folder = tmp_path_factory.mktemp("cut") / "run"

    def stop(label, step, total):
        if label == "max_sw" and step == 9:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        sliceflow.run(scenario_dict(), out=folder, render=False, on_progress=stop)
    return folder


@pytest.fixture
def run_folder(interrupted, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(interrupted, folder)
    return folder


def resume(folder):
    return sliceflow.run(scenario_dict(), out=folder, render=False, resume=True)


@pytest.mark.parametrize("framing", ["torch.save", "plain pickle"])
def test_a_crafted_checkpoint_is_refused_and_runs_nothing(run_folder, tmp_path, framing):
    marker = tmp_path / "ran"
    hostile = {"format": "sliceflow-checkpoint", "rows": Marker(marker)}
    if framing == "torch.save":
        payload = torch_saved(hostile)
        torch.load(io.BytesIO(payload), weights_only=False)  # what the old loader did with it
    else:
        payload = pickle.dumps(hostile)
        pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    (run_folder / "checkpoint.pt").write_bytes(framed(payload))
    with pytest.raises(RunDirError) as refused:
        resume(run_folder)
    message = str(refused.value)
    assert "\n" not in message and "checkpoint.pt" in message and "not loaded" in message
    assert "without --resume" in message
    assert not marker.exists()


def test_the_command_line_refuses_a_crafted_checkpoint_in_one_line(run_folder, tmp_path,
                                                                   write_scenario):  # fmt: skip
    marker = tmp_path / "ran"
    payload = torch_saved({"format": "sliceflow-checkpoint", "x": Marker(marker)})
    (run_folder / "checkpoint.pt").write_bytes(framed(payload))
    args = ["run", str(write_scenario(scenario_dict())), "--out", str(run_folder), "--resume"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not loaded" in lines[0]
    assert not marker.exists()


def test_a_checkpoint_of_the_first_format_is_one_line(run_folder):
    payload = torch_saved({"format": "sliceflow-checkpoint"})
    old = b"sliceflow checkpoint v1\n" + hashlib.sha256(payload).digest() + payload
    (run_folder / "checkpoint.pt").write_bytes(old)
    with pytest.raises(RunDirError, match=r"older sliceflow.*run without --resume"):
        resume(run_folder)


def test_a_payload_that_is_not_torchs_is_one_line(run_folder):
    (run_folder / "checkpoint.pt").write_bytes(framed(b"PK\x03\x04 not really a zip"))
    with pytest.raises(RunDirError, match="not a sliceflow checkpoint"):
        resume(run_folder)


def _swap(folder, change) -> None:
    """Rewrite the folder's checkpoint (valid header and checksum) after ``change(saved)``."""
    saved = read_checkpoint(folder / "checkpoint.pt")
    change(saved)
    write_checkpoint(folder / "checkpoint.pt", saved)


def _set(path, value):
    def change(saved):
        *parents, last = path
        for key in parents:
            saved = saved[key]
        saved[last] = value

    return change


WRONG = {
    "rows a string": (_set(["rows"], "abc"), "rows is not a list"),
    "particles a list": (_set(["particles"], [1, 2]), "particles is not a dict"),
    "a label's checkpoint a string": (
        _set(["checkpoints", "max_sw"], "x"),
        "checkpoints['max_sw']",
    ),
    "a row too short": (_set(["rows", 0], ("swd", 0)), "rows[0] is not a trace row"),
    "a row of an unknown method": (
        lambda s: s["rows"].__setitem__(0, ("nope", *s["rows"][0][1:])),
        "rows[0] is not a trace row",
    ),
    "a snapshot array of the wrong shape": (
        _set(["particles", "swd"], np.zeros((2, 2))),
        "particles['swd'] is not a float32 array",
    ),
    "completed steps a string": (_set(["completed", "swd"], "12"), "completed['swd']"),
    "a metric row of strings": (_set(["metric_rows"], [("a", "b")]), "metric_rows[0]"),
    "a stepper step off the snapshots": (
        _set(["checkpoints", "max_sw", "stepper", "step"], 5),
        "checkpoints['max_sw']",
    ),
    "a stepper state without its particles": (
        lambda s: s["checkpoints"]["max_sw"]["stepper"].pop("x"),
        "saved state of method 'max_sw' does not fit it",
    ),
    "a stepper state of the wrong kind": (
        _set(["checkpoints", "max_sw", "stepper", "flow"], "theta"),
        "saved state of method 'max_sw' does not fit it",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(WRONG))
def test_a_checkpoint_with_parts_of_the_wrong_type_is_one_line(run_folder, case):
    change, expected = WRONG[case]
    _swap(run_folder, change)
    with pytest.raises(RunDirError) as refused:
        resume(run_folder)
    message = str(refused.value)
    assert "\n" not in message and expected in message and "without --resume" in message


def test_a_malformed_numpy_entry_is_one_line(run_folder):
    payload = torch_saved(
        {"format": "sliceflow-checkpoint",
         "rows": {TAG: "ndarray", "dtype": "O", "shape": [1], "order": "C",
                  "data": torch.zeros(8, dtype=torch.uint8)}}
    )  # fmt: skip
    (run_folder / "checkpoint.pt").write_bytes(framed(payload))
    with pytest.raises(RunDirError, match=r"damaged \(a NumPy value of dtype 'O'\)"):
        resume(run_folder)


def test_the_file_holds_only_what_the_safe_loader_accepts(run_folder):
    data = (run_folder / "checkpoint.pt").read_bytes()
    payload = data[len(CHECKPOINT_MAGIC) + 32 :]
    loaded = torch.load(io.BytesIO(payload), weights_only=True)  # raises on any other object
    assert loaded["format"] == "sliceflow-checkpoint"
    assert loaded["particles"]["swd"][TAG] == "ndarray"


def test_the_resumed_run_is_the_uninterrupted_one(run_folder, tmp_path):
    full = sliceflow.run(scenario_dict(), out=tmp_path / "full", render=False)
    resumed = resume(run_folder)
    for label in ("swd", "max_sw"):
        assert np.array_equal(resumed.loss(label), full.loss(label))
        assert np.array_equal(resumed.particles[label], full.particles[label], equal_nan=True)


# -- the codec: an exact round trip -------------------------------------------------------------
def same_data(a, b) -> None:
    """``a`` and ``b`` are the same data: types, dtypes, shapes, memory order and bits."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        if isinstance(a, np.ndarray):  # memory order as pickle keeps it, and writeable
            assert b.flags.f_contiguous or not (a.flags.f_contiguous and not a.flags.c_contiguous)
            assert b.flags.writeable
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        bits = [t.detach().reshape(-1).contiguous().view(torch.uint8) for t in (a, b)]
        assert torch.equal(*bits)  # NaN payloads too
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            same_data(a[key], b[key])
        assert getattr(a, "__dict__", None) == getattr(b, "__dict__", None)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same_data(x, y)
    elif isinstance(a, float):
        assert a.hex() == b.hex() if a == a else b != b
    else:
        assert a == b


def _everything():
    weights = OrderedDict(w=torch.arange(3.0))
    weights._metadata = OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() gives
    nan = np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f", dtype="<f8")  # a NaN with a payload
    return {
        "float32": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3),
        "nan payload": nan.copy(),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strided": np.arange(20, dtype=np.int64)[::3],
        "big endian": np.arange(4, dtype=">f8"),
        "kinds": [np.array([True, False]), np.arange(3, dtype=np.uint32),
                  np.array([1 + 2j], dtype=np.complex64), np.array(["ab", "c"]),
                  np.array(["2024-01-01"], dtype="datetime64[D]")],
        "zero-d": np.array(3.5), "empty": np.zeros((0, 3)),
        "scalars": (np.float32(0.1), np.float64(-0.0), np.int64(-7), np.bool_(True)),
        "random state": np.random.RandomState(3).get_state(),
        "generator": torch.Generator().manual_seed(5).get_state(),
        "module weights": weights,
        TAG: "a key that looks like a tag",
        "nested": {"inner": {TAG: [np.ones(2)]}},
        "plain": [1, 2.5, float("nan"), "s", None, True, b"b", 2**80],
    }  # fmt: skip


def test_every_numpy_value_comes_back_bit_for_bit(tmp_path):
    original = _everything()
    write_checkpoint(tmp_path / "c.pt", {"format": "sliceflow-checkpoint", "data": original})
    same_data(original, read_checkpoint(tmp_path / "c.pt")["data"])
    same_data(original, decode(encode(original)))


def test_an_object_that_is_not_data_is_refused_when_saving(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['checkpoints'\]\['a'\]\[1\]: a .*Marker"):
        write_checkpoint(tmp_path / "c.pt", {"checkpoints": {"a": [1, Marker("x")]}})
    with pytest.raises(TypeError, match="dtype object"):
        encode({"a": np.array([None])})
    assert not (tmp_path / "c.pt").exists()
