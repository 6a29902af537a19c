"""Scalar projection models ``m_phi: R^d -> R`` batched over seeds and parameter perturbations.

Parameters of every model live in one flat vector, so ``(S, K, P)`` holds K models per seed
(e.g. the current model and its N perturbations) and a Stein or Adam step is plain tensor
arithmetic. Evaluation is a few batched matmuls over the S*K models at once.

- ``linear``: ``m(x) = w^T x + b`` (``nn.Linear(d, 1)``; default PyTorch initialisation).
- ``mlp``: ``m(x) = w^T relu(W_L ... relu(W_1 x + b_1) ... + b_L) + b`` (``d -> widths[0] ->
  ... -> widths[-1] -> 1``), weights initialised by He (Kaiming normal, fan-in, ReLU gain;
  ``init="he"``) or as PyTorch's ``nn.Linear`` (``init="torch_default"``), biases uniform as
  PyTorch's. ``hidden`` is one width or a list of widths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from sliceflow._kernels import onednn
from sliceflow.random import rand, randn

PROJECTIONS = ("linear", "mlp")
INITS = ("he", "torch_default")
POINT_CHUNK = 128  # points per block of a deep mlp (``_evaluate_deep``)


def _uniform(generators, shape, bound, dtype, device) -> torch.Tensor:
    return (2 * rand(generators, shape, dtype=dtype, device=device) - 1) * bound


def widths_of(hidden: int | Sequence[int]) -> tuple[int, ...]:
    """Hidden widths of an mlp: one width or a list of widths -> a tuple."""
    return (int(hidden),) if isinstance(hidden, int) else tuple(int(h) for h in hidden)


def parameter_count(kind: str, d: int, hidden: int | Sequence[int]) -> int:
    """Length P of the flat parameter vector of one model."""
    if kind == "linear":
        return d + 1
    sizes, fan_in = 0, d
    for h in widths_of(hidden):
        sizes, fan_in = sizes + h * (fan_in + 1), h
    return sizes + fan_in + 1


def init_parameters(kind, d, hidden, generators, *, dtype, device, init="he") -> torch.Tensor:
    """Flat initial parameters (S, P), every draw from the seed's own generator.

    .. math:: W_l \\sim N(0, 2 / f_l) \\ (he) \\quad\\text{or}\\quad
              W_l \\sim U(-1/\\sqrt{f_l}, 1/\\sqrt{f_l}) \\ (torch\\_default), \\qquad
              b_l \\sim U(-1/\\sqrt{f_l}, 1/\\sqrt{f_l})

    (``f_l``: the layer's fan-in). ``torch_default`` is ``nn.Linear``'s
    ``kaiming_uniform_(a=sqrt(5))``, whose bound is ``1 / sqrt(fan_in)``; a linear model always
    starts there (``init`` applies to the mlp). mlp layout: per hidden layer ``[W_l | b_l]``
    row by row (h_l, fan_in + 1), then the output weights ``w`` (h_L) and bias ``b``, so that
    every layer is one matmul with its inputs augmented by a row of ones. Draws in that order,
    layer by layer, the weights before the biases.
    """
    if kind == "linear":
        bound = 1 / math.sqrt(d)  # nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        return _uniform(generators, (d + 1,), bound, dtype, device)
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; use one of {', '.join(INITS)}")

    def weights(shape, fan_in):
        if init == "he":
            return randn(generators, shape, dtype=dtype, device=device) * math.sqrt(2 / fan_in)
        return _uniform(generators, shape, 1 / math.sqrt(fan_in), dtype, device)

    S = len(generators)
    parts, fan_in = [], d
    for h in widths_of(hidden):
        w = weights((h, fan_in), fan_in)
        b = _uniform(generators, (h, 1), 1 / math.sqrt(fan_in), dtype, device)
        parts.append(torch.cat([w, b], -1).view(S, -1))
        fan_in = h
    w_out = weights((fan_in,), fan_in)
    b_out = _uniform(generators, (1,), 1 / math.sqrt(fan_in), dtype, device)
    return torch.cat([*parts, w_out, b_out], dim=-1)


def evaluate(kind: str, params: torch.Tensor, points: torch.Tensor, hidden: int) -> torch.Tensor:
    """Values of K models per seed on that seed's points: (S, K, P), (S, N, d) -> (S, K, N)."""
    S, K, _ = params.shape
    d = points.shape[-1]
    if kind == "linear":
        w, b = params[..., :d], params[..., d:]
        return torch.bmm(w, points.transpose(1, 2)) + b  # (S, K, N)
    widths = widths_of(hidden)
    if len(widths) > 1:
        return _evaluate_deep(params, points, widths)
    h, n_points = widths[0], points.shape[1]
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


def _evaluate_deep(params: torch.Tensor, points: torch.Tensor, widths: tuple[int, ...]):
    """Several hidden layers: (S, K, P), (S, M, d) -> (S, K, M), seed by seed.

    With oneDNN (``sliceflow._kernels.onednn``; float32 on the CPU), model by model on all M points:
    the products after the first layer are (M x h_l) by (h_l x h_{l+1}) matrix products, where
    oneDNN's AVX-512 kernels beat BLAS (``benchmarks/bench_plan.py``). Otherwise in blocks of
    ``POINT_CHUNK``
    points, so that the K models' activations of a block stay in cache. Either way seed by seed,
    so that a seed computes the same bits alone or in a batch.
    """
    S, K, _ = params.shape
    M, d = points.shape[1], points.shape[2]
    layers, offset, fan_in = [], 0, d
    for h in widths:
        size = h * (fan_in + 1)
        layers.append(params[..., offset : offset + size].reshape(S, K, h, fan_in + 1))
        offset, fan_in = offset + size, h
    w_out = params[..., offset : offset + fan_in].reshape(S, K, 1, fan_in)
    out = torch.empty(S, K, 1, M, dtype=params.dtype, device=params.device)
    if onednn.usable(params, points):
        _deep_onednn(layers, w_out, points, out)
        return out.squeeze(2) + params[..., -1:]
    inputs = torch.cat([points.transpose(1, 2), points.new_ones(S, 1, M)], 1)  # (S, d+1, M)
    first = layers[0].reshape(S, K * widths[0], d + 1)  # rows [W_1 | b_1] of the K models
    for s in range(S):
        rest = [(layer[s, ..., :-1], layer[s, ..., -1:]) for layer in layers[1:]]  # W_l, b_l
        blocks = zip(inputs[s].split(POINT_CHUNK, -1), out[s].split(POINT_CHUNK, -1), strict=True)
        for block, block_out in blocks:
            hidden = torch.mm(first[s], block).relu_().view(K, widths[0], -1)
            for weights, bias in rest:
                hidden = torch.baddbmm(bias, weights, hidden).relu_()
            block_out.copy_(torch.bmm(w_out[s], hidden))
    return out.squeeze(2) + params[..., -1:]


def _deep_onednn(layers, w_out, points: torch.Tensor, out: torch.Tensor) -> None:
    """The oneDNN path of :func:`_evaluate_deep`, model by model, into ``out`` (S, K, 1, M).

    The first layer multiplies the points augmented by a column of ones with ``[W_1 | b_1]^T``
    (a view of the flat parameters) into one reused buffer: no broadcast copy of the bias, no
    fresh allocation per model (the same bits as ``addmm``).
    """
    S, M = points.shape[0], points.shape[1]
    augmented = torch.cat([points, points.new_ones(S, M, 1)], 2)  # (S, M, d+1)
    first_out = points.new_empty(M, layers[0].shape[2])  # (M, h_1)
    mm, mv, linear = torch.mm, torch.mv, onednn.raw_linear
    for s in range(S):
        # Per model views made once per seed (unbind), from contiguous copies: a strided
        # operand costs BLAS 2x and oneDNN a kernel build per new layout.
        firsts = layers[0][s].transpose(1, 2).unbind(0)  # (d+1, h_1) views
        rest = [_per_model(layer[s]) for layer in layers[1:]]  # (W_l, b_l) of each model
        models = zip(firsts, w_out[s, :, 0].unbind(0), out[s, :, 0].unbind(0), strict=True)
        x = augmented[s]
        for k, (w_first, w_k, output) in enumerate(models):
            hidden = mm(x, w_first, out=first_out).relu_()
            for weights, bias in rest:
                hidden = linear(hidden, weights[k], bias[k]).relu_()
            mv(hidden, w_k, out=output)


def _per_model(layer: torch.Tensor):
    """A seed's layer ``[W | b]`` (K, h, fan_in + 1) -> the K models' W and b, contiguous."""
    return layer[..., :-1].contiguous().unbind(0), layer[..., -1].contiguous().unbind(0)


def stein_gradient(
    h: torch.Tensor, z: torch.Tensor, eps: float, variance_reduction: bool = True
) -> torch.Tensor:
    """Stein estimate of the gradient of ``E h(phi + eps Z)``, variance-reduced by default.

    .. math:: \\frac1N \\sum_{k=1}^N \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k
              \\quad\\text{(plain: } \\frac1N \\sum_k \\frac{h(\\phi + \\epsilon Z_k)}{\\epsilon}
              Z_k \\text{)}

    h (S, N+1) with the unperturbed value first; z (S, N, P) -> (S, P) in z's dtype.
    """
    weights = stein_weights(h, eps, variance_reduction).to(z.dtype)  # (S, N)
    return torch.bmm(weights.unsqueeze(1), z).squeeze(1)


def stein_weights(h: torch.Tensor, eps: float, variance_reduction: bool = True) -> torch.Tensor:
    """Weights ``c_k`` of the estimator ``sum_k c_k Z_k``: (S, N+1) -> (S, N).

    .. math:: c_k = \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{N \\epsilon}
              \\quad\\text{or, without variance reduction,}\\quad
              \\frac{h(\\phi + \\epsilon Z_k)}{N \\epsilon}
    """
    N = h.shape[1] - 1
    if variance_reduction:
        return (h[:, 1:] - h[:, :1]) / (eps * N)
    return h[:, 1:] / (eps * N)


class LowRankMLPSmoothing:
    """Stein smoothing of an MLP in high dimension, sampling only what the points can see.

    With augmented points ``X`` ((d+1) x M, M = n + m < d + 1) and an orthonormal basis ``Q`` of
    their span, a first-layer perturbation acts through ``Z X = (Z Q) R`` with ``R = Q^T X``, and
    ``Xi = Z Q`` (hidden x M) has iid N(0, 1) entries. The rest ``Z (I - QQ^T)`` is independent of
    every plan cost, so its share of the estimator ``sum_k c_k Z_k`` is distributed as
    ``|c| G (I - QQ^T)`` with one fresh Gaussian G. Sampling ``Xi_k`` and G instead of the Z_k
    gives the same estimator in distribution at about (d+1)/M times less work.

    Float32 on the CPU, the large products go seed by seed through oneDNN
    (``sliceflow._kernels.onednn``, faster than PyTorch's BLAS on these shapes:
    ``benchmarks/bench_gaussian_500d.py``); the operands they need transposed are kept contiguous.
    """

    def __init__(self, points: torch.Tensor, hidden: int) -> None:
        S, M, d = points.shape
        ones = torch.ones(S, 1, M, dtype=points.dtype, device=points.device)
        inputs = torch.cat([points.transpose(1, 2), ones], 1)  # (S, d+1, M)
        self.inputs, self.hidden, self.d = inputs, hidden, d
        self.basis = torch.linalg.qr(inputs).Q.contiguous()  # (S, d+1, M)
        self.reduced = torch.bmm(self.basis.transpose(1, 2), inputs)  # (S, M, M)
        self.fast = onednn.usable(points)
        if self.fast:  # transposed copies: oneDNN takes x @ W^T with both contiguous
            self.inputs_t = inputs.transpose(1, 2).contiguous()  # (S, M, d+1)
            self.reduced_t = self.reduced.transpose(1, 2).contiguous()  # (S, M, M)
            self.basis_t = self.basis.transpose(1, 2).contiguous()  # (S, M, d+1)

    def draw(self, generators, n_perturbations: int, dtype, device) -> dict[str, torch.Tensor]:
        h, d, r = self.hidden, self.d, self.basis.shape[-1]
        sizes = [n_perturbations * h * r, n_perturbations * h, n_perturbations, h * (d + 1)]
        flat = randn(generators, (sum(sizes),), dtype=dtype, device=device)
        xi, second, bias, rest = flat.split(sizes, dim=-1)
        S = flat.shape[0]
        return {
            "xi": xi.view(S, n_perturbations, h, r),
            "second": second.view(S, n_perturbations, h),
            "bias": bias,
            "rest": rest.view(S, h, d + 1),
        }

    def values(self, params: torch.Tensor, draws: dict[str, torch.Tensor], eps: float):
        """Values of the current model and its N perturbations on the points: (S, N+1, M)."""
        S, h, d = params.shape[0], self.hidden, self.d
        N, M = draws["second"].shape[1], self.inputs.shape[-1]
        first = params[:, : h * (d + 1)].view(S, h, d + 1)
        second = params[:, h * (d + 1) : h * (d + 2)].unsqueeze(1)  # (S, 1, h)
        second = torch.cat([second, second + eps * draws["second"]], 1)  # (S, N+1, h)
        bias = params[:, -1:] + torch.cat(
            [torch.zeros_like(params[:, -1:]), eps * draws["bias"]], 1
        )
        out = torch.empty(S, N + 1, 1, M, dtype=params.dtype, device=params.device)
        hidden = torch.empty(N + 1, h, M, dtype=params.dtype, device=params.device)
        fast = self.fast and onednn.usable(params)
        for s in range(S):  # seed by seed: cache-sized work, identical bits alone or batched
            base = hidden[:1].expand(N, -1, -1)
            if fast:
                hidden[0] = onednn.raw_linear(first[s].contiguous(), self.inputs_t[s])
                xi = draws["xi"][s].reshape(N * h, -1)  # (N h, r)
                moved = onednn.raw_linear(xi, self.reduced_t[s]).view(N, h, M)  # Xi_k R
                torch.add(base, moved, alpha=eps, out=hidden[1:])
            else:
                torch.mm(first[s], self.inputs[s], out=hidden[0])  # (h, M)
                reduced = self.reduced[s].expand(N, -1, -1)  # (N, r, M)
                torch.baddbmm(base, draws["xi"][s], reduced, alpha=eps, out=hidden[1:])
            torch.bmm(second[s].unsqueeze(1), hidden.relu_(), out=out[s])
        return out.squeeze(2) + bias.unsqueeze(-1)

    def gradient(self, h_values: torch.Tensor, draws: dict[str, torch.Tensor], eps: float,
                 variance_reduction: bool = True):  # fmt: skip
        """``sum_k c_k Z_k`` (``stein_weights``) in the flat layout: (S, N+1) -> (S, P)."""
        S, N, hid, r = draws["xi"].shape
        c = stein_weights(h_values, eps, variance_reduction).to(draws["xi"].dtype)  # (S, N)
        seen = torch.bmm(c.unsqueeze(1), draws["xi"].reshape(S, N, hid * r)).view(S, hid, r)
        # seen Q^T + |c| G (I - QQ^T) = (seen - |c| G Q) Q^T + |c| G: two matmuls
        size = c.norm(dim=1)[:, None, None]  # (S, 1, 1)
        rest = draws["rest"]
        if self.fast and onednn.usable(rest):
            seen_rest = torch.stack([onednn.raw_linear(rest[i], self.basis_t[i]) for i in range(S)])
            inside = seen - size * seen_rest  # (S, h, r)
            out = [onednn.raw_linear(inside[i], self.basis[i]) for i in range(S)]  # (h, d+1)
            first = torch.stack(out).add_(rest * size)
        else:
            inside = seen - size * torch.bmm(rest, self.basis)  # (S, h, r)
            first = torch.baddbmm(rest * size, inside, self.basis.transpose(1, 2))
        second = torch.bmm(c.unsqueeze(1), draws["second"]).squeeze(1)  # (S, h)
        bias = (c * draws["bias"]).sum(1, keepdim=True)  # (S, 1)
        return torch.cat([first.flatten(1), second, bias], dim=1)
