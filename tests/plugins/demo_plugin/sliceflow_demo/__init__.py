"""A third-party flow: the energy distance between the particles and the target samples."""

from __future__ import annotations

import torch
from pydantic import Field

from sliceflow.flows import Flow, FlowConfig


class EnergyConfig(FlowConfig):
    smoothing: float = Field(1e-12, gt=0, description="added under the square roots")


class EnergyFlow(Flow):
    """Energy distance of Székely & Rizzo, a seed at a time along the batch axis.

    .. math:: E(x, y) = 2\\,\\overline{|x_i - y_j|} - \\overline{|x_i - x_k|}
              - \\overline{|y_j - y_l|}
    """

    Config = EnergyConfig
    manifolds = frozenset({"euclidean"})
    summary = "energy distance (demo plugin)"
    reference = "Székely & Rizzo 2013"

    def _mean_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        squared = (a.unsqueeze(2) - b.unsqueeze(1)).square().sum(-1)  # (S, n, m)
        return (squared + self.config.smoothing).sqrt().mean(dim=(1, 2))  # (S,)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cross = self._mean_distance(x, y)
        return 2 * cross - self._mean_distance(x, x) - self._mean_distance(y, y)
