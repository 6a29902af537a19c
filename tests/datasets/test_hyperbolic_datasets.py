"""Wrapped normals on the ball: covariance semantics, means, mixtures, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sliceflow.datasets import Stream, get_dataset
from sliceflow.manifolds.poincare.math import lorentz_logmap, minkowski_inner, poincare_to_lorentz

WND = get_dataset("wrapped_normal")
MIXTURE = get_dataset("wrapped_normal_mixture")


def tangent_coordinates(points: np.ndarray, mean_lorentz: np.ndarray) -> np.ndarray:
    """Log map at the mean, transported back to the origin: the Gaussian vectors v' (n, d)."""
    x = poincare_to_lorentz(torch.from_numpy(points))
    mu = torch.from_numpy(mean_lorentz).expand_as(x)
    u = lorentz_logmap(mu, x)
    origin = torch.zeros_like(mu)
    origin[:, 0] = 1.0
    back = u + minkowski_inner(origin, u, keepdim=True) / (1.0 + mu[:, :1]) * (mu + origin)
    assert back[:, 0].abs().max() < 1e-8  # tangent at the origin
    return back[:, 1:].numpy()


@pytest.mark.parametrize(
    "params, mean, cov",
    [
        ({"mean": [1.5, 1.25**0.5, 0.0], "cov": 0.1}, [1.5, 1.25**0.5, 0.0], 0.1 * np.eye(2)),
        ({"cov": 1.0}, [1.0, 0.0, 0.0], np.eye(2)),
        (
            {"mean_poincare": [0.3, -0.2], "cov": [[0.5, 0.2], [0.2, 0.3]]},
            [1 + 2 * 0.13 / 0.87, 0.6 / 0.87, -0.4 / 0.87],
            np.array([[0.5, 0.2], [0.2, 0.3]]),
        ),
    ],
)
def test_log_map_at_the_mean_gives_the_requested_covariance(params, mean, cov):
    points = WND.sample(WND.Config(**params), 20000, Stream(0), None)
    assert points.shape == (20000, 2) and points.dtype == np.float64
    assert (np.linalg.norm(points, axis=1) < 1).all()
    v = tangent_coordinates(points, np.asarray(mean))
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.abs(v.mean(axis=0)).max() < 5 * np.sqrt(cov.diagonal().max() / 20000)
    assert np.abs(np.cov(v.T) - cov).max() < 0.05 * scale.max()


def test_the_border_target_stays_inside_the_ball_in_float64():
    points = WND.sample(WND.Config(mean=[8.0, 63**0.5, 0.0], cov=0.1), 5000, Stream(3), None)
    assert np.isfinite(points).all() and (np.linalg.norm(points, axis=1) < 1).all()
    assert np.linalg.norm(points.mean(axis=0) - [63**0.5 / 9, 0.0]) < 0.05


def test_same_seed_same_cloud_and_source_target_noise_is_independent():
    source = WND.Config(cov=1.0)
    target = WND.Config(mean=[1.5, 1.25**0.5, 0.0], cov=0.1)
    assert np.array_equal(
        WND.sample(source, 50, Stream(4), None), WND.sample(source, 50, Stream(4), None)
    )
    assert not np.array_equal(
        WND.sample(source, 50, Stream(4), None), WND.sample(source, 50, Stream(5), None)
    )
    v_source = tangent_coordinates(WND.sample(source, 50, Stream(4), None), np.array([1.0, 0, 0]))
    v_target = tangent_coordinates(WND.sample(target, 50, Stream(4), None), np.array(target.mean))
    assert np.abs(np.corrcoef(v_source[:, 0], v_target[:, 0])[0, 1]) < 0.6  # not rescaled copies


def test_approximate_lorentz_mean_is_accepted_and_bad_means_are_rejected():
    WND.sample(WND.Config(mean=[1.5, 1.118, 0.0]), 10, Stream(0), None)
    with pytest.raises(ValueError, match="not on the hyperboloid"):
        WND.sample(WND.Config(mean=[1.5, 0.2, 0.0]), 10, Stream(0), None)
    with pytest.raises(ValueError, match="dimension 2, not 3"):
        WND.sample(WND.Config(mean=[1.0, 0.0, 0.0]), 10, Stream(0), 3)
    assert WND.sample(WND.Config(), 10, Stream(0), 3).shape == (10, 3)  # default: origin of R^dim
    with pytest.raises(ValueError):
        WND.Config(mean=[1.0, 0, 0], mean_poincare=[0.0, 0.0])
    with pytest.raises(ValueError, match="symmetric 2x2"):
        WND.sample(WND.Config(cov=[[1.0, 0.5], [0.0, 1.0]]), 10, Stream(0), None)


def test_mixture_has_equal_weights_and_component_covariances():
    config = MIXTURE.Config(cov=1e-4)
    points = MIXTURE.sample(config, 10000, Stream(1), None)
    centres = np.asarray(config.centres)
    nearest = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=5) / 10000
    assert np.abs(counts - 0.2).max() < 0.02
    # per-component covariances: component 4 only is wide
    wide = MIXTURE.Config(cov=[1e-4, 1e-4, 1e-4, 1e-4, 0.01])
    spread = MIXTURE.sample(wide, 10000, Stream(1), None)
    far = np.linalg.norm(spread - centres[nearest_index(spread, centres)], axis=1)
    assert far.max() > 0.1 and np.median(far) < 0.05


def nearest_index(points, centres):
    return np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), axis=1)


def test_default_mixture_is_the_mwnd_target():
    config = MIXTURE.Config()
    assert config.centres == [[0.0, 0.5], [0.5, 0.0], [0.0, -0.5], [-0.5, 0.0], [0.0, 0.1]]
    assert config.cov == 0.01
    points = MIXTURE.sample(config, 50, Stream(0), None)
    assert points.shape == (50, 2) and (np.linalg.norm(points, axis=1) < 1).all()
    with pytest.raises(ValueError):
        MIXTURE.Config(centres=[[0.0, 1.0]])
