"""End to end through ``sliceflow.run``: the paper's Euclidean methods on the two_moons scenario.

Short runs (150 steps, 3 seeds) with the paper's settings (lr 0.01, 50 particles). The plan-based
losses (min-SWGG, DGSWP) average over particles, so under a fixed plan each particle moves by
``2 lr / n`` of its displacement per step and W2^2 decays at best like ``exp(-4 lr t / n)``:
0.887 after 150 steps. We assert the median exact W2^2 falls below 0.93 times its start for
them, and below 0.5 times for ASWD (its loss is a square root of a sum over particles, hence
much larger steps: measured 0.03 after 300 steps).
"""

from __future__ import annotations

import numpy as np
import pytest

import sliceflow
from tests.helpers import SCENARIOS

SCENARIO = SCENARIOS / "two_moons.yaml"
FACTORS = {
    "aswd": 0.5,
    "min_swgg": 0.93,
    "min_swgg_opt": 0.93,
    "dgswp_linear": 0.93,
    "dgswp_nn": 0.93,
}


@pytest.fixture(scope="module")
def result():
    return sliceflow.run(
        SCENARIO, steps=150, seeds=3, methods=list(FACTORS), write=False, render=False
    )


@pytest.mark.parametrize("label", list(FACTORS))
def test_median_w2_decreases_on_two_moons(result, label):
    w2sq = result.w2sq(label)  # (S, K)
    assert np.isfinite(w2sq).all()
    start, end = np.median(w2sq[:, 0]), np.median(w2sq[:, -1])
    assert end < FACTORS[label] * start, (label, start, end)


@pytest.mark.parametrize("label", ["min_swgg", "min_swgg_opt", "dgswp_linear", "dgswp_nn"])
def test_plan_losses_bound_the_exact_w2(result, label):
    """The trace's loss is the cost of a real plan: never below the exact W2^2 of the step."""
    loss, w2sq = result.loss(label), result.w2sq(label)
    assert (loss >= w2sq - 1e-4 * np.maximum(1.0, w2sq)).all()
