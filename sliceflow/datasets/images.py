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
from pathlib import Path

import numpy as np
from pydantic import Field
from sklearn import datasets as skd

from sliceflow.datasets import DatasetConfig, Stream, register_dataset

BUNDLED = ("china.jpg", "flower.jpg")  # sklearn.datasets.load_sample_image, 427 x 640 each
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImagePixelsConfig(DatasetConfig):
    image: str = Field(
        description="an image file (PNG, JPEG, ...), relative to the scenario, or one of "
        "scikit-learn's sample images: china.jpg, flower.jpg"
    )
    convert: bool = Field(
        False, description="convert a greyscale or alpha image to RGB instead of refusing it"
    )

    def resolved(self, base_dir: str) -> ImagePixelsConfig:
        """The image path made absolute when it names a file next to the scenario."""
        path = Path(base_dir) / self.image
        if Path(self.image).is_absolute() or not path.exists():
            return self
        return self.model_copy(update={"image": str(path)})


def _rgb(image, name: str, convert: bool):
    """An RGB Pillow image, or ValueError for greyscale / alpha images without ``convert``."""
    from PIL import Image

    mode = image.mode
    alpha = mode in ALPHA_MODES or (mode == "P" and "transparency" in image.info)
    if alpha:
        if not convert:
            raise ValueError(
                f"image {name!r} has an alpha channel (mode {mode}); set convert: true to "
                "composite it on white, or give an RGB image"
            )
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    if mode in GREY_MODES:
        if not convert:
            raise ValueError(
                f"image {name!r} is greyscale (mode {mode}), so its colours all lie on the grey "
                "diagonal; set convert: true to use it as RGB, or give a colour image"
            )
        if mode in ("I", "F") or mode.startswith("I;16"):  # 16/32-bit: rescale to 8 bits
            values = np.asarray(image, dtype=np.float64)
            top = max(float(values.max()), 1.0)
            image = Image.fromarray(np.round(255 * values / top).astype(np.uint8), "L")
        return image.convert("RGB")
    return image.convert("RGB")  # RGB, palette, CMYK, YCbCr...: colour images


@functools.lru_cache(maxsize=4)
def _read(image: str, convert: bool, stamp: tuple) -> np.ndarray:
    """Pixels (H, W, 3) float64 in [0, 1] (``stamp``: the file's mtime and size, for the cache)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(image)
    if path.is_file():
        try:
            with Image.open(path) as opened:
                opened.load()
                rgb = _rgb(opened, image, convert)
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(
                f"cannot read image {image!r} ({reason}); give a PNG or JPEG file"
            ) from None
        pixels = np.asarray(rgb, dtype=np.uint8)
    elif image in BUNDLED:
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(image)
    else:
        hint = " (it is a directory)" if path.is_dir() else ""
        raise ValueError(
            f"image {image!r} not found{hint}; give an image file (relative to the scenario) "
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
    return _read(config.image, config.convert, stamp)


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
            f"image {config.image!r} has {len(pixels):,} pixels ({rows} x {columns}) but "
            f"{n:,} samples were asked; ask for at most {len(pixels):,}"
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
