"""Per-seed random draws: seed ``i`` always draws from its own ``torch.Generator``.

Drawing ``(S, *shape)`` tensors seed by seed (a loop over S generators, a few microseconds each)
keeps every seed's stream independent of the batch it runs in: the same seed gives bit-identical
results alone or among others.
"""

from __future__ import annotations

import torch


def randn(
    generators: list[torch.Generator],
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Standard normal draws, shape ``(S, *shape)``; row ``i`` from ``generators[i]``."""
    draws = [torch.randn(shape, generator=g, dtype=dtype, device=g.device) for g in generators]
    return torch.stack(draws).to(device)


def rand(
    generators: list[torch.Generator],
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Uniform [0, 1) draws, shape ``(S, *shape)``; row ``i`` from ``generators[i]``."""
    draws = [torch.rand(shape, generator=g, dtype=dtype, device=g.device) for g in generators]
    return torch.stack(draws).to(device)


def random_directions(
    generators: list[torch.Generator],
    n_directions: int,
    dim: int,
    *,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Uniform directions on the sphere S^{dim-1}: normalised Gaussian rows, shape (S, L, dim)."""
    theta = randn(generators, (n_directions, dim), dtype=dtype, device=device)
    return theta / theta.norm(dim=-1, keepdim=True)
