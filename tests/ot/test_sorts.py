"""The sort switch: each operation against NumPy's reference, and the torch path (other devices)
against the NumPy path on the same values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sliceflow._kernels import sorts


def _rows(dtype=np.float32, shape=(4, 300), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape).astype(dtype)
    values[0] = np.round(values[0])  # many ties
    values[1, :20], values[1, 20:30] = 0.0, -0.0  # signed zeros tie
    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sorts_and_argsorts_order_the_values_as_numpy(dtype):
    values = _rows(dtype)
    tensor = torch.from_numpy(values)
    assert np.array_equal(sorts.sort(tensor).numpy(), np.sort(values, axis=-1))
    assert np.array_equal(sorts.argsort(tensor).numpy(), np.argsort(values, axis=-1))
    normalised = values + 0  # -0.0 -> 0.0: they tie
    stable = np.argsort(normalised, axis=-1, kind="stable")
    assert np.array_equal(sorts.stable_argsort(tensor).numpy(), stable)
    keyed = sorts.keyed_argsort(tensor).numpy()
    assert np.array_equal(np.take_along_axis(values, keyed, -1), np.sort(values, axis=-1))


def test_stable_argsort_with_nan_falls_back_to_the_stable_numpy_order():
    values = _rows()
    values[2, 5] = np.nan
    expected = np.argsort(values, axis=-1, kind="stable")
    assert np.array_equal(sorts.stable_argsort(torch.from_numpy(values)).numpy(), expected)


def test_sort_indexed_along_samples_returns_the_sorted_values_and_their_sources():
    values = torch.from_numpy(_rows(shape=(2, 50, 7)))  # (S, n, L)
    ordered, indices = sorts.sort_indexed(values, dim=1)
    assert torch.equal(ordered, values.gather(1, indices))
    assert torch.equal(ordered, torch.from_numpy(np.sort(values.numpy(), axis=1)))
    assert torch.equal(sorts.sort(values, dim=1), ordered)


def test_the_torch_path_gives_the_numpy_path_numbers(monkeypatch):
    values = torch.from_numpy(_rows())
    distinct = torch.from_numpy(_rows(shape=(3, 200), seed=1)[2:])  # no ties: one argsort
    expected = {
        "sort": sorts.sort(values),
        "stable": sorts.stable_argsort(values),
        "argsort": sorts.argsort(distinct),
        "keyed": sorts.keyed_argsort(distinct),
        "along": sorts.sort_indexed(values.T[None], dim=1)[0],
    }
    monkeypatch.setattr(sorts, "_on_numpy", lambda values: False)
    assert torch.equal(sorts.sort(values), expected["sort"])
    assert torch.equal(sorts.stable_argsort(values), expected["stable"])
    assert torch.equal(sorts.argsort(distinct), expected["argsort"])
    assert torch.equal(sorts.keyed_argsort(distinct), expected["keyed"])
    assert torch.equal(sorts.sort_indexed(values.T[None], dim=1)[0], expected["along"])
