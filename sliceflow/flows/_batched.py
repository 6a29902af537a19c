"""Scalar projection models ``m_phi: R^d -> R`` batched over seeds and parameter perturbations.

Parameters of every model live in one flat vector, so ``(S, K, P)`` holds K models per seed
(e.g. the current model and its N perturbations) and a Stein or Adam step is plain tensor
arithmetic. Evaluation is a few batched matmuls over the S*K models at once.

- ``linear``: ``m(x) = w^T x + b`` (``nn.Linear(d, 1)``; default PyTorch initialisation).
- ``mlp``: ``m(x) = w_2^T relu(W_1 x + b_1) + b_2`` (``d -> hidden -> 1``), He (Kaiming normal,
  fan-in, ReLU gain) initialisation of the weights, PyTorch's default uniform biases.
"""

from __future__ import annotations

import math

import torch

from sliceflow.flows._random import rand, randn

PROJECTIONS = ("linear", "mlp")


def n_parameters(kind: str, d: int, hidden: int) -> int:
    return d + 1 if kind == "linear" else hidden * d + 2 * hidden + 1


def _uniform(generators, shape, bound, dtype, device) -> torch.Tensor:
    return (2 * rand(generators, shape, dtype=dtype, device=device) - 1) * bound


def init_parameters(kind, d, hidden, generators, *, dtype, device) -> torch.Tensor:
    """Flat initial parameters (S, P), every draw from the seed's own generator.

    mlp layout: ``[W_1 | b_1]`` row by row (hidden, d + 1), then ``w_2`` (hidden), then ``b_2``,
    so that the first layer is one matmul with the points augmented by a column of ones.
    """
    if kind == "linear":
        bound = 1 / math.sqrt(d)  # nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        return _uniform(generators, (d + 1,), bound, dtype, device)
    S = len(generators)
    w1 = randn(generators, (hidden, d), dtype=dtype, device=device) * math.sqrt(2 / d)
    b1 = _uniform(generators, (hidden, 1), 1 / math.sqrt(d), dtype, device)
    w2 = randn(generators, (hidden,), dtype=dtype, device=device) * math.sqrt(2 / hidden)
    b2 = _uniform(generators, (1,), 1 / math.sqrt(hidden), dtype, device)
    return torch.cat([torch.cat([w1, b1], -1).view(S, -1), w2, b2], dim=-1)


def evaluate(kind: str, params: torch.Tensor, points: torch.Tensor, hidden: int) -> torch.Tensor:
    """Values of K models per seed on that seed's points: (S, K, P), (S, N, d) -> (S, K, N)."""
    S, K, _ = params.shape
    d = points.shape[-1]
    if kind == "linear":
        w, b = params[..., :d], params[..., d:]
        return torch.bmm(w, points.transpose(1, 2)) + b  # (S, K, N)
    h, n_points = hidden, points.shape[1]
    ones = torch.ones(S, 1, n_points, dtype=points.dtype, device=points.device)
    inputs = torch.cat([points.transpose(1, 2), ones], 1)  # (S, d+1, N)
    first = params[..., : h * (d + 1)].reshape(S, K * h, d + 1)  # rows [W_1 | b_1] of K models
    second = params[..., h * (d + 1) : h * (d + 2)].reshape(S, K, 1, h)
    # Seed by seed: one seed's (K*h, N) activations stay in cache, one buffer serves every seed
    # (no fresh page-faulted allocation each time), and a seed computes the same bits alone or
    # in a batch.
    hidden_values = torch.empty(K * h, n_points, dtype=params.dtype, device=params.device)
    out = torch.empty(S, K, 1, n_points, dtype=params.dtype, device=params.device)
    for s in range(S):
        torch.mm(first[s], inputs[s], out=hidden_values).relu_()
        torch.bmm(second[s], hidden_values.view(K, h, n_points), out=out[s])
    return out.squeeze(2) + params[..., -1:]
