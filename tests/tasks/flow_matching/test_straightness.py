"""The straightness of learned paths: a closed form, and the same bits for a seed alone or in a
batch (the sharded runs and ``--seeds`` subsets rely on it)."""

from __future__ import annotations

import torch

from sliceflow.tasks.flow_matching.sampling import straightness


def curved(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.sin(3.0 * x) * (1.0 + t.unsqueeze(-1)) + 0.1 * x.flip(-1)


def test_a_constant_field_has_straight_paths():
    x0 = torch.randn(3, 50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0], dtype=torch.float64)
    value = straightness(lambda t, x: shift.expand_as(x), x0, steps=20)
    assert value.shape == (3,) and torch.all(value.abs() < 1e-28)


def test_a_seed_gives_the_same_straightness_alone_or_in_a_batch():
    x0 = torch.randn(4, 64, 2, generator=torch.Generator().manual_seed(1))  # float32
    whole = straightness(curved, x0, steps=100)
    for seeds in ([2, 3], [1], [0, 2]):
        alone = straightness(curved, x0[seeds], steps=100)
        assert torch.equal(alone, whole[seeds]), seeds
