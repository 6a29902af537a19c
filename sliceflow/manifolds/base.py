"""The manifold interface the engine uses (geoopt vocabulary: ``egrad2rgrad`` then ``expmap``)."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from sliceflow.rundir import Drawing


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
    # How the sliced trace estimator slices this space (``slice_values``), in words.
    sliced_distance: ClassVar[str] = "SW2^2"
    slice_name: ClassVar[str] = "direction"

    def __init__(self, config: ManifoldConfig | None = None) -> None:
        self.config = config or self.Config()

    def egrad2rgrad(self, x: torch.Tensor, egrad: torch.Tensor) -> torch.Tensor:
        """Riemannian gradient from the Euclidean one."""
        return egrad

    def expmap(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Exponential map at ``x`` applied to the tangent vector ``u``."""
        return x + u

    def logmap(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Tangent vector at ``x`` whose exponential map is ``y`` (inverse of ``expmap``)."""
        return y - x

    def norm(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Riemannian norm of the tangent vector ``u`` at ``x``: (..., d) -> (...)."""
        return u.norm(dim=-1)

    def projx(self, x: torch.Tensor) -> torch.Tensor:
        """Projection onto the manifold (identity where every point is a point of it)."""
        return x

    def step(self, x: torch.Tensor, egrad: torch.Tensor, lr: float) -> torch.Tensor:
        """One Riemannian SGD step ``x <- exp_x(-lr * rgrad)``."""
        return self.expmap(x, -lr * self.egrad2rgrad(x, egrad))

    def dist(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Geodesic distance, broadcast over leading axes: (..., d), (..., d) -> (...)."""
        return (x - y).norm(dim=-1)

    def cost_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Ground cost ``d(x_i, y_j)^2`` for exact OT: (..., n, d), (..., m, d) -> (..., n, m)."""
        raise NotImplementedError

    def slice_values(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """1D coordinates of points along L slices (unit vectors): (S, n, d), (S, L, d) ->
        (S, L, n); here the projections ``<x, theta>``."""
        return torch.bmm(theta, x.transpose(1, 2))

    def drawing(self) -> Drawing:
        """How the reports draw this space (boundary, view, distance name)."""
        return Drawing()

    def validate_points(self, points: torch.Tensor, where: str) -> None:
        """Raise ``ValueError`` naming the first row that is not a point of the manifold."""
        bad = ~torch.isfinite(points).all(dim=-1)
        if bad.any():
            row = int(bad.reshape(-1).nonzero()[0])
            raise ValueError(f"{where}: row {row} is not finite")
