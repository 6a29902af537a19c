"""Images as data. ``digits``: scikit-learn's 8 x 8 handwritten digits as 64-vectors (no
download). ``image_pixels``: images as clouds of colours; it reads a PNG/JPEG file (Pillow) or
one of scikit-learn's sample images and returns its pixels as RGB points in [0, 1]^3.

All the pixels, in row-major order, when as many samples as pixels are asked (the reports can then
draw the particles as an image of the same size); otherwise a subsample without replacement drawn
from the side's own stream. Greyscale and alpha images are refused with a clear message, or
converted with ``convert: true``.
"""

from __future__ import annotations

import functools
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from pydantic import Field, PrivateAttr
from sklearn import datasets as skd

from sliceflow.datasets import DatasetConfig, Stream, register_dataset
from sliceflow.datasets.files import DataFileError, describe, open_regular

BUNDLED = ("china.jpg", "flower.jpg")  # sklearn.datasets.load_sample_image, 427 x 640 each
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
# Pixels an image may have (a 7,000 x 7,000 photograph: 1.2 GB as float64 colours): checked from
# its header before decoding, below Pillow's own decompression-bomb limit (89 million).
MAX_PIXELS = 50_000_000


class ImagePixelsConfig(DatasetConfig):
    image: str = Field(
        description="an image file (PNG, JPEG, ...), relative to the scenario, or one of "
        "scikit-learn's sample images: china.jpg, flower.jpg"
    )
    convert: bool = Field(
        False, description="convert a greyscale or alpha image to RGB instead of refusing it"
    )
    _given: str | None = PrivateAttr(None)  # the image as the scenario names it, for messages

    def resolved(self, base_dir: str) -> ImagePixelsConfig:
        """The image path made absolute when it names a file next to the scenario."""
        path = Path(base_dir) / self.image
        if Path(self.image).is_absolute() or not path.exists():
            return self
        copy = self.model_copy(update={"image": str(path)})
        copy._given = self.image
        return copy


class ImageRefused(ValueError):
    """An image that was read but is refused (its mode, its size): the message is the reason."""


def _rgb(image, name: str, convert: bool):
    """An RGB Pillow image, or ImageRefused for greyscale / alpha images without ``convert``."""
    from PIL import Image

    mode = image.mode
    alpha = mode in ALPHA_MODES or (mode == "P" and "transparency" in image.info)
    if alpha:
        if not convert:
            raise ImageRefused(
                f"image {name} has an alpha channel (mode {mode}); set convert: true to "
                "composite it on white, or give an RGB image"
            )
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    if mode in GREY_MODES:
        if not convert:
            raise ImageRefused(
                f"image {name} is greyscale (mode {mode}), so its colours all lie on the grey "
                "diagonal; set convert: true to use it as RGB, or give a colour image"
            )
        if mode in ("I", "F") or mode.startswith("I;16"):  # 16/32-bit: rescale to 8 bits
            values = np.asarray(image, dtype=np.float64)
            top = max(float(values.max()), 1.0)
            image = Image.fromarray(np.round(255 * values / top).astype(np.uint8), "L")
        return image.convert("RGB")
    return image.convert("RGB")  # RGB, palette, CMYK, YCbCr...: colour images


def _decode(path: Path, name: str, convert: bool) -> np.ndarray:
    """Pixels (H, W, 3) uint8 of an image file; ValueError (one line) for a file that is not a
    regular file, not an image, damaged, or larger than ``MAX_PIXELS`` (checked from the header,
    before decoding)."""
    import PIL
    from PIL import Image

    try:
        with open_regular(path, name) as file, warnings.catch_warnings():
            # Pillow warns above its own limit; ours is lower and refused below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as opened:
                columns, rows = opened.size
                if rows * columns > MAX_PIXELS:
                    raise _too_large(name, f"{rows:,} x {columns:,} pixels")
                opened.load()
                return np.asarray(_rgb(opened, name, convert), dtype=np.uint8)
    except (ImageRefused, DataFileError):  # already one line naming the image
        raise
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found[1]):,} pixels" if found else "too many pixels"
        raise _too_large(name, size) from None
    except (
        PIL.UnidentifiedImageError,
        OSError,
        SyntaxError,
        EOFError,
        ValueError,
        struct.error,
        zlib.error,
        IndexError,
        TypeError,
    ) as error:  # Pillow's ways of failing on bad bytes
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot read image {name} ({reason}); give a PNG or JPEG file") from None


def _too_large(name: str, size: str) -> ImageRefused:
    return ImageRefused(
        f"image {name} has {size}, more than the {MAX_PIXELS:,} sliceflow reads; downscale it"
    )


@functools.lru_cache(maxsize=4)
def _read(image: str, convert: bool, stamp: tuple, name: str) -> np.ndarray:
    """Pixels (H, W, 3) float64 in [0, 1] (``stamp``: the file's mtime and size, for the cache)."""
    path = Path(image)
    if path.exists():
        pixels = _decode(path, name, convert)
    elif image in BUNDLED:
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(image)
    else:
        raise ValueError(
            f"image {name} not found; give an image file (relative to the scenario) "
            f"or one of scikit-learn's sample images: {', '.join(BUNDLED)}"
        )
    values = pixels.astype(np.float64) / 255.0
    values.flags.writeable = False
    return values


def image_pixels_array(config: ImagePixelsConfig) -> np.ndarray:
    """The image of ``config`` as (H, W, 3) float64 in [0, 1] (read-only, cached)."""
    path = Path(config.image)
    stat = path.stat() if path.is_file() else None
    stamp = (stat.st_mtime_ns, stat.st_size) if stat else ()
    given = config._given or config.image
    name = describe(given, path) if path.exists() else repr(given)
    return _read(config.image, config.convert, stamp, name)


def _grid(config: ImagePixelsConfig, n: int) -> tuple[int, int] | None:
    rows, columns, _ = image_pixels_array(config).shape
    return (rows, columns) if n == rows * columns else None


@register_dataset("image_pixels", ImagePixelsConfig, grid=_grid)
def image_pixels(config: ImagePixelsConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """The RGB colours of an image's pixels in [0, 1]^3 (all of them, or a random subsample)."""
    if dim is not None and dim != 3:
        raise ValueError(f"dataset 'image_pixels' lives in dimension 3 (RGB), not {dim}")
    image = image_pixels_array(config)
    rows, columns, _ = image.shape
    pixels = image.reshape(-1, 3)
    if n > len(pixels):
        raise ValueError(
            f"image {config._given or config.image!r} has {len(pixels):,} pixels ({rows} x "
            f"{columns}) but {n:,} samples were asked; ask for at most {len(pixels):,}"
        )
    if n == len(pixels):
        return pixels.copy()
    keep = stream.random_state().choice(len(pixels), n, replace=False)
    return pixels[np.sort(keep)]


DIGITS_COUNT, DIGITS_DIM = 1797, 64


@register_dataset("digits", DatasetConfig)
def digits(config: DatasetConfig, n: int, stream: Stream, dim: int | None) -> np.ndarray:
    """scikit-learn's 8 x 8 handwritten digits as 64-vectors in [-1, 1] (pixel / 8 - 1).

    ``n`` images drawn without replacement from the 1797 (in the stream's random order), so
    ``n_samples: 1797`` is the whole set, shuffled. Row-major pixels: ``reshape(8, 8)`` shows one.
    """
    if dim is not None and dim != DIGITS_DIM:
        raise ValueError(f"dataset 'digits' lives in dimension {DIGITS_DIM}, not {dim}")
    if n > DIGITS_COUNT:
        raise ValueError(
            f"dataset 'digits' has {DIGITS_COUNT} images and {n} were asked for; set n_samples "
            f"to at most {DIGITS_COUNT}"
        )
    images = skd.load_digits().data  # (1797, 64), integers 0..16
    order = stream.random_state().permutation(DIGITS_COUNT)[:n]
    return images[order] / 8.0 - 1.0
