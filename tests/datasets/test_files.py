"""Data files are read strictly: every row of a valid file as numpy reads it, one line naming the
file and the row (or line) for anything else, special files refused before a byte is read."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.datasets import files
from sliceflow.datasets.files import DataFileError, read_points
from sliceflow.datasets.histograms import read_histograms
from sliceflow.errors import UserError
from tests.helpers import small_scenario


def _csv(tmp_path, text: str | bytes, name: str = "points.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _refused(path, match: str) -> str:
    with pytest.raises(DataFileError, match=match) as caught:
        read_points(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and str(path.name) in message
    return message


# -- CSV ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["", "x,y\n"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_csv_with_a_byte_order_mark_keeps_every_row(tmp_path, header, newline):
    text = (header + "1,2\n3,4\n5,6\n").replace("\n", newline)
    path = _csv(tmp_path, b"\xef\xbb\xbf" + text.encode())
    np.testing.assert_array_equal(read_points(path), [[1, 2], [3, 4], [5, 6]])


def test_a_numeric_first_line_is_a_row_and_a_header_is_names_only(tmp_path):
    assert read_points(_csv(tmp_path, "1,2\n3,4\n")).shape == (2, 2)
    assert read_points(_csv(tmp_path, '"x", y\n1,2\n3,4\n')).shape == (2, 2)
    assert read_points(_csv(tmp_path, "\n# points\nx,y\n1,2\n")).shape == (1, 2)
    _refused(_csv(tmp_path, "1,2x\n3,4\n"), r"line 1: '1,2x' is not a row of comma-separated")


def test_a_non_numeric_line_after_the_first_names_the_file_and_its_line(tmp_path):
    message = _refused(_csv(tmp_path, "x,y\n1,2\n\n# note\n3,abc\n"), r"line 5: '3,abc'")
    assert "only the first line may be a header" in message and "fix or remove it" in message
    _refused(_csv(tmp_path, "1,2\n3,4\nx,y\n"), r"line 3: 'x,y' is not a row")


def test_ragged_rows_and_empty_fields_name_the_line(tmp_path):
    _refused(_csv(tmp_path, "1,2\n3,4,5\n"), r"line 2 has 3 values but the rows before it have 2")
    _refused(_csv(tmp_path, "1,2\n3,\n"), r"line 2: '3,' is not a row")


def test_non_finite_values_name_the_line_of_the_file(tmp_path):
    _refused(_csv(tmp_path, "x,y\n\n1,2\n# c\nnan,2\n"), r"line 5 is not finite")
    _refused(_csv(tmp_path, "1,2\n1e999,2\n"), r"line 2 is not finite \(\[inf, 2.0\]\)")


def test_empty_header_only_utf16_and_binary_csv_files_give_one_line(tmp_path):
    _refused(_csv(tmp_path, ""), "has no rows of numbers")
    _refused(_csv(tmp_path, "x,y\n\n"), "has a header but no rows of numbers")
    _refused(_csv(tmp_path, "1,2\n".encode("utf-16")), "is UTF-16 text; save it as UTF-8")
    _refused(_csv(tmp_path, bytes(range(256))), r"line \d+: .* is not a row")


def test_valid_csv_files_read_bit_for_bit_as_loadtxt_reads_them(tmp_path):
    rng = np.random.RandomState(0)
    values = rng.randn(200, 3) * 10.0 ** rng.randint(-30, 30, (200, 3))
    for fmt in ("%.18e", "%.3g"):
        path = tmp_path / "values.csv"
        np.savetxt(path, values, fmt=fmt, delimiter=",")
        expected = np.loadtxt(path, delimiter=",", ndmin=2)
        assert read_points(path).tobytes() == expected.tobytes()
        np.savetxt(path, values, fmt=fmt, delimiter=",", header="a,b,c", comments="")
        assert read_points(path).tobytes() == expected.tobytes()


def test_a_csv_beyond_the_byte_bound_is_refused_without_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_CSV_BYTES", 1000)
    _refused(
        _csv(tmp_path, "1,2\n" * 300),
        r"larger than 1,000 bytes of text; save the data with numpy.save",
    )


# -- .npy -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("array, kind", [
    (np.array([[1 + 2j, 3], [4, 5j]]), r"complex numbers \(dtype complex128\).*z\.real, z\.imag"),
    (np.zeros(3, dtype=[("a", "f8"), ("b", "f8")]), r"structured records .*structured_to_unstr"),
    (np.ones((3, 2), dtype=bool), r"booleans \(dtype bool\)"),
    (np.array([["a", "b"]]), r"strings \(dtype <U1\)"),
    (np.array([[np.datetime64("2024-01-01")]]), r"dates"),
])  # fmt: skip
def test_non_real_npy_files_are_refused_naming_the_file_and_dtype(tmp_path, array, kind):
    np.save(tmp_path / "data.npy", array)
    message = _refused(tmp_path / "data.npy", kind)
    assert "not real numbers" in message


def test_an_object_npy_is_refused_from_its_header_without_unpickling(tmp_path):
    np.save(tmp_path / "data.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _refused(tmp_path / "data.npy", r"Python objects \(dtype object\)")


def test_real_npy_files_of_every_real_dtype_read_as_np_load_reads_them(tmp_path):
    for dtype in (np.float16, np.float32, np.float64, np.int8, np.uint16, np.int64):
        array = (np.arange(12).reshape(6, 2) - 3).astype(dtype)
        np.save(tmp_path / "data.npy", array)
        points = read_points(tmp_path / "data.npy")
        assert points.dtype == np.float64 and np.array_equal(points, array.astype(np.float64))
    np.save(tmp_path / "data.npy", np.asfortranarray(np.arange(6.0).reshape(3, 2)))
    assert np.array_equal(read_points(tmp_path / "data.npy"), np.arange(6.0).reshape(3, 2))


def test_empty_truncated_and_damaged_npy_files_give_one_line(tmp_path):
    path = tmp_path / "data.npy"
    path.write_bytes(b"")
    _refused(path, r"is empty \(0 bytes\)")
    np.save(path, np.ones((100, 2)))
    path.write_bytes(path.read_bytes()[:300])
    _refused(path, r"is truncated: its header announces shape \(100, 2\) of float64")
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 12}   \n")
    _refused(path, "is not a valid .npy file")
    path.write_bytes(b"hello, not numpy at all")
    _refused(path, "is not a valid .npy file")


def test_non_finite_rows_and_bad_shapes_of_npy_files_name_the_row(tmp_path):
    points = np.zeros((5, 2))
    points[3, 1] = np.inf
    np.save(tmp_path / "data.npy", points)
    _refused(tmp_path / "data.npy", r"row 3 is not finite \(\[0.0, inf\]\)")
    np.save(tmp_path / "data.npy", np.zeros(4))
    _refused(tmp_path / "data.npy", r"has shape \(4,\); expected \(samples, dimension\)")
    np.save(tmp_path / "data.npy", np.zeros((0, 2)))
    _refused(tmp_path / "data.npy", r"has shape \(0, 2\)")


# -- files that are no data files ---------------------------------------------------------------
def test_missing_files_directories_and_other_suffixes_give_one_line(tmp_path):
    _refused(tmp_path / "missing.npy", "not found; check the path")
    (tmp_path / "folder.csv").mkdir()
    _refused(tmp_path / "folder.csv", "is a directory")
    (tmp_path / "points.txt").write_text("1,2\n")
    _refused(tmp_path / "points.txt", "unsupported file type '.txt'; use .npy or .csv")


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_fifos_and_devices_are_refused_before_anything_is_read(tmp_path, suffix):
    os.mkfifo(tmp_path / f"pipe{suffix}")  # reading it would wait for a writer forever
    _refused(tmp_path / f"pipe{suffix}", "is a FIFO, device or socket, not a regular file")
    (tmp_path / f"zero{suffix}").symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(DataFileError, match="not a regular file"):
        read_points(tmp_path / f"zero{suffix}")


def test_histogram_files_share_the_readers(tmp_path):
    (tmp_path / "h.npy").write_bytes(b"")
    with pytest.raises(UserError, match=r"'.*h\.npy': is empty"):
        read_histograms(tmp_path / "h.npy")
    path = _csv(tmp_path, b"\xef\xbb\xbfa,b,c\n1,2,3\n4,5,6\n", "h.csv")
    np.testing.assert_array_equal(read_histograms(path), [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("content, problem", [
    (b"", r"data\.file: 'h\.npy' \(.*h\.npy\): is empty \(0 bytes\)"),
    (np.zeros((0, 3, 3)), r"data\.file: 'h\.npy' \(.*\) has shape \(0, 3, 3\)"),
    (np.array([[1, 2j], [3, 4]]), r"data\.file: 'h\.npy' .*holds complex numbers"),
])  # fmt: skip
def test_a_bad_histogram_file_is_one_line_naming_data_file(
    tmp_path, write_scenario, content, problem
):
    if isinstance(content, bytes):
        (tmp_path / "h.npy").write_bytes(content)
    else:
        np.save(tmp_path / "h.npy", content)
    path = write_scenario(small_scenario("dictionary", data={"file": "h.npy"}))
    result = CliRunner().invoke(app, ["validate", str(path)])
    output = result.output.strip()
    assert result.exit_code == 2 and len(output.splitlines()) == 1, output
    assert re.search(problem, output), output
