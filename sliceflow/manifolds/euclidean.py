"""Euclidean space R^d: the step is plain gradient descent ``x <- x - lr * grad``."""

from __future__ import annotations

import torch

from sliceflow.manifolds.base import Manifold


class Euclidean(Manifold):
    name = "euclidean"
    default_dtype = torch.float32
    summary = "R^d with the squared Euclidean cost; step x <- x - lr * grad"

    def step(self, x: torch.Tensor, egrad: torch.Tensor, lr: float) -> torch.Tensor:
        return x - lr * egrad

    def cost_matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Squared Euclidean cost ``|x_i - y_j|^2`` (as ``ot.dist``).

        Explicit differences rather than ``|x|^2 + |y|^2 - 2 x.y``: no cancellation near 0.
        """
        return (x.unsqueeze(-2) - y.unsqueeze(-3)).square().sum(-1)
