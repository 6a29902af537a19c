"""Source and target of a seed come from independent random streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sliceflow.datasets import DATASETS, Stream
from sliceflow.manifolds import Euclidean
from sliceflow.scenario import build_scenario
from sliceflow.tasks.flow.clouds import make_clouds
from tests.helpers import small_scenario

# Generators only: an image's pixels repeat colours, so two samples of one image may share points
# (its streams are tested in test_images.py).
EUCLIDEAN = sorted(name for name, d in DATASETS.items() if "euclidean" in d.manifolds
                   and name != "image_pixels")  # fmt: skip
NATIVE_DIM = {"digits": 64}  # datasets whose fixed dimension is not 2
FINITE = {"digits"}  # a finite set of points: both sides may draw the same one


def clouds(source: dict, target: dict, seeds=(0, 1, 2), n: int = 40, dim: int = 2):
    scenario = build_scenario(small_scenario(seeds=list(seeds), n_particles=n, source=source,
                                             target=target, dim=dim))  # fmt: skip
    x, y = make_clouds(scenario, Euclidean(), torch.float64, "cpu")
    return x.numpy(), y.numpy()


@pytest.mark.parametrize("name", EUCLIDEAN)
def test_the_same_dataset_on_both_sides_gives_independent_clouds(name):
    x, y = clouds({"dataset": name}, {"dataset": name}, dim=NATIVE_DIM.get(name, 2))
    for s in range(x.shape[0]):
        assert not np.allclose(x[s], y[s]), f"seed {s}: source and target share a stream"
        if name in FINITE:
            continue
        distances = np.linalg.norm(x[s][:, None] - y[s][None], axis=-1)
        assert distances.min() > 0  # not even one point is drawn twice


def test_a_side_does_not_depend_on_the_other_side():
    x1, y1 = clouds({"dataset": "uniform_cube"}, {"dataset": "gaussian"})
    x2, y2 = clouds({"dataset": "uniform_cube"}, {"dataset": "two_moons"})
    x3, y3 = clouds({"dataset": "circle"}, {"dataset": "gaussian"})
    assert np.array_equal(x1, x2) and np.array_equal(y1, y3)


def test_streams_are_deterministic_and_differ_by_seed_and_side():
    draw = [Stream(seed, side).random_state().rand(4) for seed in (0, 1) for side in
            ("source", "target")]  # fmt: skip
    again = [Stream(seed, side).random_state().rand(4) for seed in (0, 1) for side in
             ("source", "target")]  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(draw, again, strict=True))
    assert len({a.tobytes() for a in draw}) == 4
