"""User data files are fuzzed: ``.npy`` files of random dtypes, shapes and bytes, CSV text with
junk, byte-order marks, blank lines, NaN, infinities and huge numbers, and images of odd modes,
damaged or not images at all, fed to ``sliceflow validate`` and ``sliceflow run --steps 1``.

Every outcome must be exit code 0, or exit code 2 with one line ``error: ...``; never a
traceback. Ball points the run accepts must give finite traces.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from sliceflow.cli import app
from tests.test_fuzz import assert_clean

runner = CliRunner()
FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
DTYPES = ["float64", "float32", "float16", "int8", "uint16", "int64", "bool", "complex64",
          "complex128", "U3", "S2", "datetime64[s]", "f8,f8", "object"]  # fmt: skip
NUMBERS = [0.0, 1.5, -2.0, 1e308, -1e39, 1e-320, float("nan"), float("inf"), 7]
TOKENS = ["1", "-2.5", "1e3", "nan", "inf", "-inf", "1e999", "1e39", "x", "", " ", "1,2", "#",
          '"3"', "0x1F", "1_0", "\x00", "é", "\ufeff"]  # fmt: skip


def scenario(target: dict, **changes) -> dict:
    """Uniform source to the file's points: 16 particles, one seed, SWD, a few steps."""
    return {"name": "fuzz", "n_particles": 16, "steps": 2, "seeds": 1,
            "source": {"dataset": "uniform_cube"}, "target": target,
            "methods": [{"method": "swd", "lr": 1.0, "n_projections": 5}],
            "output": {"gif": False}} | changes  # fmt: skip


def check(files: dict[str, bytes], tree: dict, run: bool) -> np.ndarray | None:
    """Write the files and the scenario to a fresh folder; validate (and run one step) cleanly.
    The run's traced values (loss and W2^2 columns), or None when nothing ran."""
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            (Path(folder) / name).write_bytes(content)
        path = Path(folder) / "scenario.yaml"
        path.write_text(yaml.safe_dump(tree, sort_keys=False))
        result = runner.invoke(app, ["validate", str(path)])
        assert_clean(result)
        event(f"validate: exit {result.exit_code}")  # shown by --hypothesis-show-statistics
        if not run or result.exit_code != 0:
            return None
        out = Path(folder) / "run"
        ran = runner.invoke(app, ["run", str(path), "--steps", "1", "--out", str(out), "--no-gif",
                                  "--no-progress", "--jobs", "1"])  # fmt: skip
        assert_clean(ran)
        event(f"run: exit {ran.exit_code}")
        if ran.exit_code != 0:
            return None
        trace = np.genfromtxt(out / "trace.csv", delimiter=",", names=True)
        return np.stack([trace["loss"], trace["w2sq"]])


def damage(data: bytes, how: str, cut: float, noise: bytes) -> bytes:
    """The bytes of a file left whole, truncated, emptied, overwritten in the middle, or noise."""
    if how == "truncate":
        return data[: int(cut * len(data))]
    if how == "empty":
        return b""
    if how == "flip":
        middle = int(cut * len(data))
        return data[:middle] + bytes(b ^ 0xFF for b in noise) + data[middle + len(noise) :]
    if how == "noise":
        return noise
    return data


HOW = st.sampled_from(["keep", "keep", "keep", "truncate", "empty", "flip", "noise"])
NOISE = st.binary(min_size=1, max_size=24)


VALUES = st.one_of(st.floats(-10, 10), st.sampled_from(NUMBERS))  # mostly plain numbers
PLAUSIBLE = st.tuples(st.integers(1, 5), st.integers(1, 3))  # (samples, dimension)


@st.composite
def npy_files(draw) -> bytes:
    """Points as numpy.save writes them (often a plausible float array), perhaps damaged."""
    dtype = draw(st.sampled_from(["float64", "float32"]) | st.sampled_from(DTYPES))
    shape = draw(PLAUSIBLE | st.lists(st.integers(0, 4), max_size=3).map(tuple))
    values = np.array(draw(st.lists(VALUES, min_size=1, max_size=4)))
    data = np.resize(values, shape) if np.prod(shape) else np.zeros(shape)
    with np.errstate(all="ignore"):
        try:
            array = data.astype(dtype) if dtype != "f8,f8" else np.zeros(shape, dtype=dtype)
        except (ValueError, OverflowError, TypeError):
            array = data
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)  # object arrays: a pickle the reader must refuse
    return damage(buffer.getvalue(), draw(HOW), draw(st.floats(0, 1)), draw(NOISE))


@pytest.mark.slow
@FUZZ
@given(content=npy_files(), run=st.booleans())
def test_mutated_npy_files_give_exit_0_or_one_line(content, run):
    check({"points.npy": content}, scenario({"file": "points.npy"}), run)


@st.composite
def csv_files(draw) -> bytes:
    width = draw(st.integers(1, 3))
    rows = draw(st.lists(st.lists(VALUES, min_size=width, max_size=width), min_size=1, max_size=6))
    lines = [",".join(repr(float(v)) for v in row) for row in rows]
    for _ in range(
        draw(st.sampled_from([0, 0, 1, 3]))
    ):  # junk: a token, a blank line or a ragged row
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(TOKENS + ["", "x,y", "1,2,3,4"])))
    if draw(st.booleans()):
        lines.insert(0, ",".join("xyz"[:width]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf", b"\xff\xfe"]))
    data = bom + text.encode("utf-8")
    return damage(data, draw(HOW), draw(st.floats(0, 1)), draw(NOISE))


@pytest.mark.slow
@FUZZ
@given(content=csv_files(), run=st.booleans(), dtype=st.sampled_from(["float32", "float64"]))
def test_mutated_csv_files_give_exit_0_or_one_line(content, run, dtype):
    check({"points.csv": content}, scenario({"file": "points.csv"}, dtype=dtype), run)


MODES = {"1": 1, "L": 90, "P": 5, "RGB": (1, 2, 3), "RGBA": (4, 5, 6, 0), "LA": (7, 128),
         "I;16": 50000, "I": 70000, "F": 0.5, "CMYK": (0, 9, 0, 9)}  # fmt: skip
FORMATS = {".png": ("1", "L", "P", "RGB", "RGBA", "LA", "I;16"), ".gif": ("L", "P", "RGB"),
           ".jpg": ("L", "RGB", "CMYK"), ".tiff": tuple(MODES)}  # fmt: skip


@st.composite
def image_files(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[suffix]))
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    buffer = io.BytesIO()
    Image.new(mode, size, MODES[mode]).save(buffer, format=suffix[1:].replace("jpg", "jpeg"))
    content = damage(
        buffer.getvalue(),
        draw(HOW),
        draw(st.floats(0, 1)),
        draw(NOISE),
    )
    return draw(st.sampled_from([suffix, ".png"])), content  # sometimes named as another kind


@pytest.mark.slow
@FUZZ
@given(image=image_files(), convert=st.booleans(), run=st.booleans())
def test_mutated_images_give_exit_0_or_one_line(image, convert, run):
    suffix, content = image
    source = {"dataset": "image_pixels", "image": f"picture{suffix}", "convert": convert,
              "n_samples": 1}  # fmt: skip
    target = {"dataset": "image_pixels", "image": "china.jpg", "n_samples": 16}
    check({f"picture{suffix}": content}, scenario(target, n_particles=1, source=source), run)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(gap=st.sampled_from([1e-10, 6e-8, 0.0, 1e-8, 1e-6]),
       dtype=st.sampled_from(["float32", "float64"]))  # fmt: skip
def test_ball_points_near_the_boundary_are_refused_or_give_finite_traces(gap, dtype):
    points = np.random.RandomState(0).uniform(-0.3, 0.3, (16, 2))
    points[3] = [1.0 - gap, 0.0]
    buffer = io.BytesIO()
    np.save(buffer, points)
    target = {"dataset": "wrapped_normal", "mean": [1.5, 1.25**0.5, 0.0], "cov": 0.1}
    tree = scenario(target, manifold="poincare", dtype=dtype, source={"file": "source.npy"},
                    methods=[{"method": "hhsw", "lr": 1.0, "n_projections": 5},
                             {"method": "dgswp", "lr": 0.5, "inner_steps": 1}])  # fmt: skip
    traced = check({"source.npy": buffer.getvalue()}, tree, run=True)
    assert traced is None or np.isfinite(traced).all(), (gap, dtype)
