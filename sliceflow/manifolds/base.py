"""The manifold interface the engine uses (geoopt vocabulary: ``egrad2rgrad`` then ``expmap``),
and how a manifold is drawn (``Drawing``, plain data the run folder records)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class Drawing:
    """How a manifold's particles are drawn in two dimensions: plain data for the reports.

    The engine records ``to_dict()`` in the run folder; the report reads that record back and
    never asks the geometry.

    Parameters
    ----------
    boundary_radius : float or None
        Radius of a circle drawn around the origin (None: no boundary).
    extent : float or None
        Half-width of a fixed square view around the origin (None: fit the view to the points).
    distance : str
        Plain-text name of the traced squared distance (e.g. ``geodesic W2^2``).
    """

    boundary_radius: float | None = None
    extent: float | None = None
    distance: str = "W2^2"

    def to_dict(self) -> dict[str, Any]:
        """The description as a mapping of its fields (what a run folder records)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Drawing:
        """The description ``to_dict`` gave (a missing field takes its default)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


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
        flat = points.reshape(-1, points.shape[-1])
        bad = ~torch.isfinite(flat).all(dim=-1)
        if not bad.any():
            return
        row = int(bad.nonzero()[0])
        coarse = points.dtype in (torch.float16, torch.bfloat16, torch.float32)
        if coarse and not flat[row].isnan().any():  # an infinity: a float64 value overflowed
            dtype = str(points.dtype).removeprefix("torch.")
            raise ValueError(
                f"{where}: row {row} is not finite in {dtype} (values beyond "
                f"{torch.finfo(points.dtype).max:.3g} overflow it); set dtype: float64, or "
                "rescale the points"
            )
        raise ValueError(f"{where}: row {row} is not finite; check the data or its parameters")
