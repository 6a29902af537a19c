"""Float32 matrix products through oneDNN on the CPU, where PyTorch's default BLAS is slower.

PyTorch multiplies float32 matrices on the CPU with MKL, which runs its AVX2 kernels on AMD
processors; oneDNN (bundled with PyTorch's x86 builds) uses AVX-512 where the processor has it
(``benchmarks/bench_plan.py`` and ``benchmarks/bench_gaussian_500d.py`` time both).

:func:`linear` is ``x @ weight.T + bias`` through oneDNN's ``_linear_pointwise`` (the op
PyTorch's own compiler emits for CPU linears) when PyTorch has it, :data:`ENABLED` is true and
the size policy allows it (:func:`sliceflow._kernels.policy.onednn_applies`: float32 on the CPU,
no gradient recorded); otherwise through ``torch.nn.functional.linear``. Both are deterministic;
they round differently (the order of the sums differs), so a result depends on which one ran,
and a computation that must give the same bits alone or in a batch must call this on the same
shapes either way. No ReLU is fused: oneDNN's maps NaN to 0, which would hide
a non-finite value that torch's ``relu`` keeps.
"""

from __future__ import annotations

import functools
import platform

import torch

from sliceflow._kernels.policy import onednn_applies

ENABLED = True  # benchmarks switch it off to time the default BLAS in the same process


@functools.cache
def available() -> bool:
    """Whether this PyTorch has a working oneDNN linear (checked once, on a small product), on an
    x86-64 processor: elsewhere (e.g. Arm, where PyTorch's BLAS is the vendor's) it was never
    measured against the default, which is then kept."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        op = torch.ops.mkldnn._linear_pointwise
        out = op(torch.ones(2, 3), torch.ones(4, 3), None, "none", [], "")
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.equal(out, torch.full((2, 4), 3.0)))


def usable(*tensors: torch.Tensor) -> bool:
    """True when :func:`linear` on these tensors goes through oneDNN: switched on, allowed by
    the policy (:func:`~sliceflow._kernels.policy.onednn_applies`) and available here."""
    return ENABLED and onednn_applies(*tensors) and available()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight.T + bias``: x (..., k), weight (n, k), bias (n,) or None -> (..., n)."""
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if usable(*tensors):
        # contiguous operands: oneDNN compiles a kernel per new layout (a strided weight would
        # cost a build per call), and caches the kernel of a layout it has seen
        return raw_linear(x.contiguous(), weight.contiguous(), bias)
    return torch.nn.functional.linear(x, weight, bias)


def raw_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """:func:`linear` through oneDNN without the checks, for loops of many small products whose
    operands the caller has checked once with :func:`usable` (and made contiguous)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
