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
    out = _rows(generators, shape, dtype)
    for g, row in zip(generators, out, strict=True):
        torch.randn(shape, generator=g, dtype=dtype, device=g.device, out=row)
    return out.to(device)


def rand(
    generators: list[torch.Generator],
    shape: tuple[int, ...],
    *,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Uniform [0, 1) draws, shape ``(S, *shape)``; row ``i`` from ``generators[i]``."""
    out = _rows(generators, shape, dtype)
    for g, row in zip(generators, out, strict=True):
        torch.rand(shape, generator=g, dtype=dtype, device=g.device, out=row)
    return out.to(device)


def _rows(generators: list[torch.Generator], shape: tuple[int, ...], dtype) -> torch.Tensor:
    """The (S, *shape) tensor the seeds draw into, row by row: the same numbers as drawing each
    row apart and stacking them, without the copy (large draws are memory-bound)."""
    devices = {g.device for g in generators}
    device = devices.pop() if len(devices) == 1 else torch.device("cpu")
    return torch.empty((len(generators), *shape), dtype=dtype, device=device)


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
