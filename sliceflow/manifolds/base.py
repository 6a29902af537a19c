"""The manifold interface the engine uses (geoopt vocabulary: ``egrad2rgrad`` then ``expmap``)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict


class ManifoldConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Manifold:
    """A space particles live in. Subclasses override the maths; the engine calls only these."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[ManifoldConfig]] = ManifoldConfig
    default_dtype: ClassVar[torch.dtype] = torch.float32
    summary: ClassVar[str] = ""
    # Consecutive steps with a non-finite particle after which a seed counts as diverged.
    nonfinite_patience: ClassVar[int] = 1

    def __init__(self, config: ManifoldConfig | None = None) -> None:
        self.config = config or self.Config()

    def egrad2rgrad(self, x: torch.Tensor, egrad: torch.Tensor) -> torch.Tensor:
        """Riemannian gradient from the Euclidean one."""
        return egrad

    def expmap(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Exponential map at ``x`` applied to the tangent vector ``u``."""
        return x + u

    def step(self, x: torch.Tensor, egrad: torch.Tensor, lr: float) -> torch.Tensor:
        """One Riemannian SGD step ``x <- exp_x(-lr * rgrad)``."""
        return self.expmap(x, -lr * self.egrad2rgrad(x, egrad))

    def cost_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Ground cost ``c(x_i, y_j)`` for exact OT: (..., n, d), (..., m, d) -> (..., n, m)."""
        raise NotImplementedError

    def validate_points(self, points: torch.Tensor, where: str) -> None:
        """Raise ``ValueError`` naming the first row that is not a point of the manifold."""
        bad = ~torch.isfinite(points).all(dim=-1)
        if bad.any():
            row = int(bad.reshape(-1).nonzero()[0])
            raise ValueError(f"{where}: row {row} is not finite")
