"""Histograms on a regular grid, for dictionary learning (``task: dictionary``).

A histogram dataset is a function ``make(config, stream) -> HistogramData`` registered with
``@register_histograms(name, Config)``: N nonnegative histograms of n bins, the grid shape they
live on, and, for synthetic data, the atoms and weights that made them. Randomness comes from the
seed's own stream only (``stream.random_state()``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from sliceflow.datasets import DatasetConfig, Stream
from sliceflow.datasets.files import DataFileError, describe, read_csv, read_npy
from sliceflow.registry import Registry


@dataclass(frozen=True)
class HistogramData:
    """``data`` (N, n) nonnegative histograms; ``grid_shape`` with prod = n; known truth or None:
    ``atoms`` (K, n) and ``weights`` (N, K) of a synthetic dataset."""

    data: np.ndarray
    grid_shape: tuple[int, ...]
    atoms: np.ndarray | None = None
    weights: np.ndarray | None = None


@dataclass(frozen=True)
class HistogramDataset:
    name: str
    Config: type[DatasetConfig]
    make: Callable[[DatasetConfig, Stream], HistogramData]
    summary: str


HISTOGRAMS: Registry = Registry("histogram dataset", "sliceflow.datasets")


def register_histograms(name: str, Config: type[DatasetConfig] = DatasetConfig):
    """Decorator registering ``make(config, stream) -> HistogramData`` under ``name``."""

    def decorate(make):
        summary = (make.__doc__ or "").strip().splitlines()[0]
        HISTOGRAMS.add(name, HistogramDataset(name, Config, make, summary))
        return make

    return decorate


def get_histograms(name: str) -> HistogramDataset:
    """The histogram dataset ``name``; ``ValueError`` naming the closest and the known ones."""
    return HISTOGRAMS.lookup(name)


def grid_coordinates(shape: tuple[int, ...], size: float = 1.0) -> np.ndarray:
    """Bin centres of a regular grid, (n, d) in C order, spacing ``size / (max(shape) - 1)``.

    .. math:: x_{i} = h \\, (i_1, \\dots, i_d), \\quad h = \\mathrm{size} / (\\max_j s_j - 1)

    The longest axis spans ``[0, size]``; every axis has the same spacing.
    """
    spacing = size / max(max(shape) - 1, 1)
    axes = [np.arange(s, dtype=np.float64) * spacing for s in shape]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)


def gaussian_histograms(x: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """Discretised 1-D Gaussians on the bins ``x`` (n,), each normalised to sum 1: (K, n)."""
    density = np.exp(-0.5 * ((x[None] - means[:, None]) / stds[:, None]) ** 2)
    return density / density.sum(axis=1, keepdims=True)


class GaussianBarycentersConfig(DatasetConfig):
    n_bins: int = Field(64, ge=2, le=100_000)
    n_data: int = Field(40, gt=0, le=1_000_000)
    means: list[float] = [0.2, 0.5, 0.8]
    stds: list[float] = [0.05, 0.08, 0.04]
    concentration: float | list[float] = Field(
        0.3, description="Dirichlet concentration of the weights: one value or one per atom"
    )
    reg: float = Field(0.002, gt=0)
    n_iter: int = Field(25, gt=0)

    @model_validator(mode="after")
    def _lengths(self):
        K = len(self.means)
        if K == 0 or len(self.stds) != K:
            raise ValueError(
                f"means and stds must have the same positive length (got {K} and {len(self.stds)})"
            )
        if any(s <= 0 for s in self.stds):
            raise ValueError("stds must be positive")
        alpha = self.concentration
        if isinstance(alpha, list) and len(alpha) != K:
            raise ValueError(
                f"concentration has {len(alpha)} weights but there are {K} atoms (means); "
                f"give one value or {K}"
            )
        if any(a <= 0 for a in (alpha if isinstance(alpha, list) else [alpha])):
            raise ValueError("concentration must be positive")
        return self


@register_histograms("gaussian_barycenters", GaussianBarycentersConfig)
def gaussian_barycenters(config: GaussianBarycentersConfig, stream: Stream) -> HistogramData:
    """1-D Gaussian atoms on [0, 1] and N entropic barycentres of them with Dirichlet weights."""
    import torch

    from sliceflow.ot.entropic._barycenter import barycenter

    K = len(config.means)
    x = grid_coordinates((config.n_bins,))[:, 0]
    atoms = gaussian_histograms(x, np.array(config.means), np.array(config.stds))  # (K, n)
    alpha = np.broadcast_to(np.asarray(config.concentration, dtype=np.float64), (K,))
    weights = stream.random_state().dirichlet(alpha, size=config.n_data)  # (N, K)
    cost = torch.from_numpy((x[:, None] - x[None]) ** 2)
    data = barycenter(
        torch.from_numpy(atoms.T.copy()), cost, torch.from_numpy(weights), config.reg,
        method="log", max_iter=config.n_iter, tol=None,
    )  # fmt: skip
    return HistogramData(data.numpy(), (config.n_bins,), atoms, weights)


class DigitsConfig(DatasetConfig):
    n_samples: int | None = Field(None, gt=0, description="a random subset (default: all 1797)")


@register_histograms("digits", DigitsConfig)
def digits(config: DigitsConfig, stream: Stream) -> HistogramData:
    """scikit-learn's bundled handwritten digits: 1797 images of 8 x 8 pixels as histograms."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float64)  # (1797, 8, 8), values 0..16
    if config.n_samples is not None and config.n_samples < len(images):
        keep = stream.random_state().choice(len(images), config.n_samples, replace=False)
        images = images[np.sort(keep)]
    data = images.reshape(len(images), -1)
    return HistogramData(data / data.sum(axis=1, keepdims=True), (8, 8))


def read_histograms(path: Path, name: str | None = None) -> np.ndarray:
    """Histograms from a ``.npy`` file ((N, n), or (N, h, w) images) or a ``.csv`` (one per row,
    optional header line); DataFileError (one line naming ``name`` and the line) otherwise."""
    name = name or describe(path, path)
    if path.suffix == ".npy":
        return np.asarray(read_npy(path, name), dtype=np.float64)
    if path.suffix != ".csv":
        raise DataFileError(f"{name}: unsupported file type {path.suffix!r}; use .npy or .csv")
    return read_csv(path, name)[0]


def check_histograms(data: np.ndarray, where: str) -> None:
    """One-line ValueError naming the first bad histogram (non-finite, negative, no mass)."""
    if data.ndim != 2 or data.shape[0] < 1 or data.shape[1] < 2:
        raise ValueError(f"{where} has shape {data.shape}; expected (histograms, bins)")
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{where}: histogram {int(np.argmin(finite))} has NaN or infinite entries; fix or "
            "remove it"
        )
    negative = (data < 0).any(axis=1)
    if negative.any():
        row = int(np.argmax(negative))
        raise ValueError(
            f"{where}: histogram {row} has a negative entry ({data[row].min():.3g}); "
            "histograms must be nonnegative"
        )
    empty = data.sum(axis=1) <= 0
    if empty.any():
        raise ValueError(
            f"{where}: histogram {int(np.argmax(empty))} has zero mass; drop it or give it "
            "positive entries"
        )
