"""Trace estimators against POT, the batched SW code and closed forms."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from sliceflow.manifolds import MANIFOLDS, Euclidean
from sliceflow.manifolds.poincare.math import busemann
from sliceflow.ot.sliced._slicing import sliced_wasserstein2, wasserstein2_1d
from sliceflow.tasks.flow.estimators import (
    ExactW2,
    PaletteW2,
    SinkhornDivergence,
    SlicedW2,
    SubsampleW2,
)
from tests.helpers import ball_points, clouds


def test_a_subsample_of_every_point_is_the_exact_value_and_a_subsample_is_its_emd2():
    x, y = clouds([0, 1], n=40, d=3)
    everything = torch.stack([torch.randperm(40, generator=torch.Generator().manual_seed(s))
                              for s in range(2)])  # fmt: skip
    exact = ExactW2(Euclidean())(x, y)
    assert np.allclose(SubsampleW2(Euclidean(), everything, everything)(x, y), exact, rtol=1e-12)
    index = torch.tensor([[0, 5, 9], [1, 2, 3]])
    found = SubsampleW2(Euclidean(), index, index.flip(1))(x, y)
    for s in range(2):
        xs, ys = x[s, index[s]].numpy(), y[s, index.flip(1)[s]].numpy()
        assert found[s] == pytest.approx(ot.emd2([], [], ot.dist(xs, ys)), rel=1e-12)


def test_sliced_estimate_is_sw_with_the_same_directions():
    x, y = clouds([0, 1], n=50, d=3)
    theta = torch.randn(2, 300, 3, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    theta /= theta.norm(dim=-1, keepdim=True)
    estimator = SlicedW2(Euclidean(), theta)
    assert estimator.description == "SW2^2 with 300 fixed directions"
    assert np.allclose(estimator(x, y), sliced_wasserstein2(x, y, theta).numpy(), rtol=1e-12)


def test_sliced_estimate_on_the_ball_is_the_horospherical_sw():
    ball = MANIFOLDS["poincare"]()
    x, y = ball_points((2, 60, 2), seed=1), ball_points((2, 45, 2), seed=2, radius=0.5)
    p = torch.randn(2, 100, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    p /= p.norm(dim=-1, keepdim=True)
    expected = wasserstein2_1d(busemann(x, p), busemann(y, p)).numpy()
    estimator = SlicedW2(ball, p)
    assert estimator.description.startswith("horospherical SW2^2 with 100 fixed ideal points")
    assert np.allclose(estimator(x, y), expected, rtol=1e-12)


def test_palettes_are_k_means_fits_of_the_current_particles_and_of_the_target():
    from sklearn.cluster import MiniBatchKMeans

    x0, y = clouds([0], n=120, d=2)
    estimator = PaletteW2(Euclidean(), y, clusters=10, random_states=[7])
    x = x0 + torch.tensor([0.5, -1.0], dtype=x0.dtype)
    value = estimator(x, y)

    def fit(points):
        kmeans = MiniBatchKMeans(n_clusters=10, random_state=7, n_init=1, batch_size=6144)
        return kmeans.fit(points[0].numpy()).cluster_centers_

    expected = ot.emd2([], [], ot.dist(fit(x), fit(y)))
    assert value[0] == pytest.approx(expected, rel=1e-12)
    assert np.array_equal(value, PaletteW2(Euclidean(), y, 10, [7])(x, y))  # reproducible
    assert estimator(y, y)[0] == pytest.approx(0.0, abs=1e-12)  # the same cloud, the same fit


def test_sinkhorn_divergence_of_a_translation_is_the_squared_shift():
    """S_eps(mu, mu + t) = |t|^2 for the squared cost, whatever eps (debiasing removes the
    entropic bias exactly: every plan between mu and mu + t costs |t|^2 more)."""
    x, _ = clouds([0], n=30, d=2)
    shift = torch.tensor([0.3, 0.4], dtype=x.dtype)
    value = SinkhornDivergence(Euclidean(), blur=0.2)(x, x + shift)
    assert value[0] == pytest.approx(0.25, rel=1e-3)
    close = SinkhornDivergence(Euclidean(), blur=0.02)(x, clouds([1], n=30, d=2)[1])
    exact = ExactW2(Euclidean())(x, clouds([1], n=30, d=2)[1])
    assert close[0] == pytest.approx(exact[0], rel=0.05)  # blur -> 0: W2^2
