"""A tiny Adam (and plain SGD) for parameters that carry a leading seed axis and get closed-form
gradients.

Same arithmetic as ``torch.optim.Adam`` (single-tensor path), element by element, so batching
seeds changes nothing: each entry of ``(S, ...)`` parameters is updated independently.

.. math:: m \\leftarrow \\beta_1 m + (1-\\beta_1) g,\\quad
          v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2,
          \\quad p \\leftarrow p - \\frac{\\eta}{1-\\beta_1^t}\\,
          \\frac{m}{\\sqrt{v}/\\sqrt{1-\\beta_2^t} + \\epsilon}
"""

from __future__ import annotations

import math
from typing import Any

import torch


class BatchedAdam:
    """Adam on a list of tensors updated in place; ``maximize=True`` ascends."""

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        self.params = params
        self.lr, self.betas, self.eps, self.maximize = lr, betas, eps, maximize
        self.reset()

    def reset(self) -> None:
        """Forget the moments (a fresh optimiser on the same parameters)."""
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        beta1, beta2 = self.betas
        self.step_count += 1
        step_size = self.lr / (1 - beta1**self.step_count)
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.step_count)
        for i, (p, g, m, v) in enumerate(
            zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True)
        ):
            # One scratch tensor per parameter, reused: large fresh allocations are page-faulted
            # at every step (10 MB per step for ASWD's d x d maps). The same operations as
            # torch's Adam, so the same numbers.
            scratch = self._scratch(i, p)
            g = torch.neg(g, out=scratch) if self.maximize else g
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = torch.sqrt(v, out=scratch).div_(bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)

    def _scratch(self, index: int, like: torch.Tensor) -> torch.Tensor:
        scratch = getattr(self, "scratch", None)
        if scratch is None:
            scratch = self.scratch = {}
        if index not in scratch or scratch[index].shape != like.shape:
            scratch[index] = torch.empty_like(like)
        return scratch[index]

    def rows(self, index: slice) -> BatchedAdam:
        """The optimiser of rows ``index`` (seeds) of every tensor: views of these parameters and
        moments, updated in place by ``step``; its ``step_count`` starts at this one's."""
        part = BatchedAdam.__new__(BatchedAdam)
        part.params = [p[index] for p in self.params]
        part.lr, part.betas, part.eps, part.maximize = self.lr, self.betas, self.eps, self.maximize
        part.step_count = self.step_count
        part.exp_avg = [m[index] for m in self.exp_avg]
        part.exp_avg_sq = [v[index] for v in self.exp_avg_sq]
        return part

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_count,
            "exp_avg": [m.clone() for m in self.exp_avg],
            "exp_avg_sq": [v.clone() for v in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step"])
        saved = state["exp_avg"] + state["exp_avg_sq"]
        for mine, value in zip(self.exp_avg + self.exp_avg_sq, saved, strict=True):
            mine.copy_(value)


class BatchedSGD:
    """Plain SGD on a list of tensors updated in place (``torch.optim.SGD`` without momentum).

    .. math:: p \\leftarrow p - \\eta g
    """

    def __init__(self, params: list[torch.Tensor], lr: float, maximize: bool = False) -> None:
        self.params, self.lr, self.maximize = params, lr, maximize

    def reset(self) -> None:
        """Nothing to forget: plain SGD keeps no state."""

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        for p, g in zip(self.params, grads, strict=True):
            p.add_(g, alpha=self.lr if self.maximize else -self.lr)

    def rows(self, index: slice) -> BatchedSGD:
        """The optimiser of rows ``index`` (seeds): views of these parameters."""
        return BatchedSGD([p[index] for p in self.params], self.lr, self.maximize)

    @property
    def step_count(self) -> int:
        return 0

    @step_count.setter
    def step_count(self, value: int) -> None:
        """Plain SGD counts no steps (the attribute exists for symmetry with BatchedAdam)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"BatchedSGD keeps no state but got {sorted(state)}")
