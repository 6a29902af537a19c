"""Small image sets that ship with scikit-learn, as vectors (no download)."""

from __future__ import annotations

import numpy as np
from sklearn import datasets as skd

from sliceflow.datasets import DatasetConfig, Stream, register_dataset

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
