"""image_pixels: images as clouds of RGB colours; bad images give one line."""

from __future__ import annotations

import os
import struct
import sys
import zlib

import numpy as np
import pytest
import yaml
from PIL import Image
from sklearn.datasets import load_sample_image
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.datasets import Stream, get_dataset
from sliceflow.datasets.images import MAX_PIXELS, ImagePixelsConfig

runner = CliRunner()
DATASET = get_dataset("image_pixels")


def _sample(n, stream=Stream(0, "source"), **config):
    return DATASET.sample(ImagePixelsConfig(**config), n, stream, None)


def test_a_sample_image_gives_all_its_pixels_in_row_major_order():
    pixels = _sample(427 * 640, image="china.jpg")
    expected = load_sample_image("china.jpg").reshape(-1, 3) / 255.0
    assert np.array_equal(pixels, expected) and pixels.min() >= 0 and pixels.max() <= 1
    assert DATASET.grid(ImagePixelsConfig(image="china.jpg"), 427 * 640) == (427, 640)
    assert DATASET.grid(ImagePixelsConfig(image="china.jpg"), 1000) is None


def test_a_subsample_is_drawn_from_the_sides_own_stream():
    every = load_sample_image("flower.jpg").reshape(-1, 3) / 255.0
    a = _sample(500, Stream(0, "source"), image="flower.jpg")
    b = _sample(500, Stream(0, "target"), image="flower.jpg")
    again = _sample(500, Stream(0, "source"), image="flower.jpg")
    assert np.array_equal(a, again) and not np.array_equal(a, b)
    rows = {tuple(p) for p in every}
    assert all(tuple(p) in rows for p in a)


def test_more_samples_than_pixels_is_refused():
    with pytest.raises(ValueError, match="has 273,280 pixels"):
        _sample(300_000, image="china.jpg")


def _png(path, mode, color):
    Image.new(mode, (6, 4), color).save(path)
    return str(path)


def test_alpha_and_greyscale_images_are_refused_or_converted(tmp_path):
    alpha = _png(tmp_path / "a.png", "RGBA", (255, 0, 0, 0))  # fully transparent red
    grey = _png(tmp_path / "g.png", "L", 128)
    with pytest.raises(ValueError, match="alpha channel.*convert: true"):
        _sample(24, image=alpha)
    with pytest.raises(ValueError, match="greyscale.*convert: true"):
        _sample(24, image=grey)
    assert np.allclose(_sample(24, image=alpha, convert=True), 1.0)  # composited on white
    assert np.allclose(_sample(24, image=grey, convert=True), 128 / 255)


@pytest.mark.parametrize("content,message", [
    (None, "not found"),
    (b"hello, not an image", "cannot read image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot read image"),
])  # fmt: skip
def test_bad_image_files_give_one_line_and_exit_2(tmp_path, content, message):
    if content is not None:
        (tmp_path / "picture.png").write_bytes(content)
    scenario = {
        "name": "bad_image", "n_particles": 24, "steps": 2, "seeds": 1,
        "source": {"dataset": "image_pixels", "image": "picture.png"},
        "target": {"dataset": "image_pixels", "image": "china.jpg", "n_samples": 24},
        "methods": [{"method": "swd"}],
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


def test_a_relative_image_path_is_read_next_to_the_scenario(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    _png(folder / "red.png", "RGB", (255, 0, 0))
    scenario = {
        "name": "relative", "n_particles": 24, "steps": 1, "seeds": 1,
        "source": {"dataset": "image_pixels", "image": "red.png"},
        "target": {"dataset": "image_pixels", "image": "red.png"},
        "methods": [{"method": "swd"}],
    }  # fmt: skip
    (folder / "s.yaml").write_text(yaml.safe_dump(scenario))
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    result = runner.invoke(app, ["validate", str(folder / "s.yaml")])
    assert result.exit_code == 0, result.output


def png_header(width: int, height: int) -> bytes:
    """A PNG of the given size with no pixel data: its header alone (a few dozen bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _validate_source_image(tmp_path, image: str):
    scenario = {
        "name": "img", "n_particles": 24, "steps": 2, "seeds": 1,
        "source": {"dataset": "image_pixels", "image": image},
        "target": {"dataset": "image_pixels", "image": "china.jpg", "n_samples": 24},
        "methods": [{"method": "swd"}],
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = runner.invoke(app, ["validate", str(path)])
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert len(output.splitlines()) == 1 and output.startswith("error: img: source: "), output
    return output


@pytest.mark.parametrize("width, height", [(14_000, 14_000), (8_000, 8_000)])
def test_huge_images_are_refused_from_their_header_before_decoding(tmp_path, width, height):
    """14,000^2 trips Pillow's decompression-bomb error, 8,000^2 only sliceflow's own bound."""
    (tmp_path / "huge.png").write_bytes(png_header(width, height))
    message = _validate_source_image(tmp_path, "huge.png")
    assert f"image 'huge.png' ({tmp_path.resolve() / 'huge.png'}) has " in message
    assert f"more than the {MAX_PIXELS:,} sliceflow reads; downscale it" in message


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_directory_or_a_fifo_named_as_an_image_is_refused_without_reading(tmp_path):
    (tmp_path / "folder.png").mkdir()
    assert "is a directory" in _validate_source_image(tmp_path, "folder.png")
    os.mkfifo(tmp_path / "pipe.png")  # opening it to read would wait for a writer
    assert "is a FIFO, device or socket" in _validate_source_image(tmp_path, "pipe.png")


@pytest.mark.parametrize("mode, value, convert, suffix", [
    ("1", 1, True, ".png"), ("P", 3, False, ".png"), ("I;16", 40000, True, ".png"),
    ("LA", (10, 200), True, ".png"), ("RGBA", (1, 2, 3, 255), True, ".png"),
    ("CMYK", (0, 255, 0, 0), False, ".tiff"), ("I", 70000, True, ".tiff"),
    ("F", 0.25, True, ".tiff"), ("RGB", (9, 8, 7), False, ".gif"),
])  # fmt: skip
def test_images_of_odd_modes_read_as_rgb_in_the_unit_cube(tmp_path, mode, value, convert, suffix):
    """1-bit, palette, 16- and 32-bit, alpha, CMYK, float images: colours in [0, 1]^3."""
    path = tmp_path / f"odd{suffix}"
    Image.new(mode, (3, 2), value).save(path)
    pixels = _sample(6, image=str(path), convert=convert)
    assert pixels.shape == (6, 3) and np.isfinite(pixels).all()
    assert pixels.min() >= 0 and pixels.max() <= 1
