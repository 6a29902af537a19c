"""Non-finite particles: kept in place and counted; a seed diverges by the manifold's patience."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sliceflow
from sliceflow.flows import FLOWS, FlowConfig, register
from sliceflow.flows.base import Flow
from tests.helpers import small_scenario


class _GlitchConfig(FlowConfig):
    failing_calls: list[int] = [2]


@pytest.fixture
def glitch_flow():
    """Particle 0 of seed 1 gets a NaN gradient at the listed calls of ``loss``."""

    @register("_glitch")
    class Glitch(Flow):
        Config = _GlitchConfig
        manifolds = frozenset({"euclidean", "poincare"})

        def loss(self, x, y):
            self.calls = getattr(self, "calls", 0) + 1
            value = (x - y).square().mean(dim=(1, 2))
            if self.calls in self.config.failing_calls:
                poison = torch.zeros_like(value)
                poison[1] = torch.sqrt(x[1, 0, 0] - 10.0)  # NaN value, NaN gradient
                value = value + poison
            return value

    yield "_glitch"
    del FLOWS["_glitch"]


def _scenario(manifold: str, failing: list[int]) -> dict:
    data = "wrapped_normal" if manifold == "poincare" else "gaussian"
    extra = {} if manifold == "poincare" else {"dim": 2, "mean": 0.0, "cov": 0.1}
    return small_scenario(
        manifold=manifold, n_particles=10, steps=15, seeds=3,
        source={"dataset": data, **extra}, target={"dataset": data, **extra},
        methods=[{"method": "_glitch", "lr": 0.01, "failing_calls": failing}],
    )  # fmt: skip


def test_ball_keeps_the_failing_particle_and_counts_it(glitch_flow):
    result = sliceflow.run(_scenario("poincare", [2]), write=False)
    w2 = result.w2sq(glitch_flow)
    assert np.isfinite(w2).all()  # one failing step is not a divergence on the ball
    assert result.info["nonfinite_particles"][glitch_flow] == [0, 1, 0]
    assert result.info["diverged_at_step"][glitch_flow] == [-1, -1, -1]


def test_ball_seed_that_keeps_failing_is_diverged(glitch_flow):
    result = sliceflow.run(_scenario("poincare", list(range(3, 14))), write=False)
    w2 = result.w2sq(glitch_flow)
    # failing calls 3..12 are steps 2..11: the 10th failure in a row (step 11) diverges seed 1.
    assert result.info["diverged_at_step"][glitch_flow] == [-1, 12, -1]
    assert np.isinf(w2[1, 12:]).all() and np.isfinite(w2[1, :12]).all()
    assert np.isfinite(w2[[0, 2]]).all()


def test_euclidean_seed_diverges_at_its_first_failure(glitch_flow):
    result = sliceflow.run(_scenario("euclidean", [2]), write=False)
    assert result.info["diverged_at_step"][glitch_flow] == [-1, 2, -1]
    assert np.isinf(result.w2sq(glitch_flow)[1, 2:]).all()
