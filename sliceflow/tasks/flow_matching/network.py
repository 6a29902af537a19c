"""The velocity network ``v(t, x)``: one MLP per seed, all seeds evaluated by batched matmuls.

The architecture is torchcfm's ``models.MLP(dim, w=width, time_varying=True)`` with ``depth``
hidden layers (torchcfm: 3): the input ``[x, t]`` (d + 1), ``depth`` layers of ``width`` units
with SELU, then a linear layer back to d. Weights of seed i live at index i of (S, in, out)
tensors; initialisation is ``nn.Linear``'s (weights and biases uniform in
``+-1/sqrt(fan_in)``), drawn from the seed's own generator.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from sliceflow.random import rand


class VelocityMLP:
    """Per-seed MLPs ``v_i(t, x)``: parameters (S, ...) in ``self.parameters``.

    .. math:: v(t, x) = W_L \\,\\mathrm{selu}(\\dots \\mathrm{selu}(W_1 [x, t] + b_1)\\dots) + b_L
    """

    def __init__(self, dim: int, width: int, depth: int, generators: list[torch.Generator],
                 *, dtype: torch.dtype, device: torch.device) -> None:  # fmt: skip
        sizes = [dim + 1] + [width] * depth + [dim]
        self.dim = dim
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) and the bias rule
            # nn.Linear draws the weight (out, in) first, then the bias: same order per seed
            weight = 2 * rand(generators, (fan_out, fan_in), dtype=dtype, device=device) - 1
            bias = 2 * rand(generators, (1, fan_out), dtype=dtype, device=device) - 1
            self.weights.append((weight * bound).transpose(1, 2).contiguous().requires_grad_())
            self.biases.append((bias * bound).requires_grad_())

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    def __call__(self, t: torch.Tensor, x: torch.Tensor, seeds: slice | None = None):
        """Velocities (S', B, d) at times t (S', B) and points x (S', B, d).

        ``seeds``: evaluate only these seeds' networks (e.g. one seed for an adaptive solver).
        """
        pick = seeds if seeds is not None else slice(None)
        h = torch.cat([x, t.unsqueeze(-1).to(x.dtype)], dim=-1)  # (S', B, d+1)
        last = len(self.weights) - 1
        for k, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(bias[pick], h, weight[pick])
            if k < last:
                h = functional.selu(h)
        return h

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {
            "weights": [w.detach().clone() for w in self.weights],
            "biases": [b.detach().clone() for b in self.biases],
        }

    def load_state_dict(self, state: dict[str, list[torch.Tensor]]) -> None:
        with torch.no_grad():
            for mine, saved in zip(self.parameters, _interleave(state), strict=True):
                mine.copy_(saved)


def _interleave(state: dict[str, list[torch.Tensor]]) -> list[torch.Tensor]:
    return [p for pair in zip(state["weights"], state["biases"], strict=True) for p in pair]
