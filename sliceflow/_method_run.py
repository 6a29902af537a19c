"""One method of a run: a batch of S independent particle systems moved by one flow."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from sliceflow._scenario_models import MethodSpec
from sliceflow.flows import FlowContext, get_flow
from sliceflow.metrics import exact_w2sq_batch


class MethodRun:
    """Particles ``x`` (S, n, d) of one method, its flow, per-seed generators and divergence book.

    Non-finite particles keep their previous position and are counted. A seed whose steps produce
    non-finite particles ``manifold.nonfinite_patience`` times in a row is diverged from that step:
    its particles are frozen and its ``w2sq`` is reported as inf (never averaged in).
    """

    def __init__(self, spec: MethodSpec, seeds: list[int], manifold, x0, y, steps: int) -> None:
        self.spec, self.manifold, self.y, self.steps = spec, manifold, y, steps
        self.label = spec.label
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        S, n, d = x0.shape
        context = FlowContext(
            n_seeds=S, n=n, m=y.shape[1], d=d, dtype=x0.dtype, device=x0.device,
            manifold=manifold, generators=self.generators, seeds=list(seeds),
        )  # fmt: skip
        self.flow = get_flow(spec.method, manifold.name)(spec.params, context)
        self.x = x0.detach().clone()
        self.step = 0
        self.elapsed = 0.0
        self.diverged = torch.zeros(S, dtype=torch.bool, device=x0.device)
        self.diverged_at = np.full(S, -1)
        self.nonfinite = np.zeros(S, dtype=np.int64)
        self.streak = torch.zeros(S, dtype=torch.long, device=x0.device)
        self.patience = int(getattr(manifold, "nonfinite_patience", 1))

    # -- one step ------------------------------------------------------------------------------
    def advance(self, want_loss: bool) -> np.ndarray | None:
        """Run step ``self.step``: inner loop, loss, particle update (none at the last step)."""
        start = time.perf_counter()
        flow, x, y, last = self.flow, self.x, self.y, self.step >= self.steps
        loss = None
        if flow.implicit:
            if want_loss:
                with torch.no_grad():
                    loss = flow.loss(x, y)
            if not last:
                self._accept(flow.implicit_step(x, y).detach())
        else:
            flow.inner_update(x, y)
            if last:
                with torch.no_grad():
                    loss = flow.loss(x, y)
            else:
                x_var = x.detach().requires_grad_(True)
                loss = flow.loss(x_var, y)
                (grad,) = torch.autograd.grad(loss.sum(), x_var)
                with torch.no_grad():
                    self._accept(self.manifold.step(x, grad, self.spec.params.lr))
        self.elapsed += time.perf_counter() - start
        if not last:
            self.step += 1
        return None if loss is None else loss.detach().double().cpu().numpy()

    def _accept(self, x_new: torch.Tensor) -> None:
        x_old = self.x
        finite = torch.isfinite(x_new).all(dim=-1)  # (S, n)
        bad = (~finite).sum(dim=-1)  # (S,)
        if bool(bad.any()):
            self.nonfinite += bad.cpu().numpy()
            self.streak = torch.where(bad > 0, self.streak + 1, torch.zeros_like(self.streak))
            newly = (self.streak >= self.patience) & ~self.diverged
            if bool(newly.any()):
                self.diverged_at[newly.cpu().numpy()] = self.step + 1
                self.diverged |= newly
            x_new = torch.where(finite.unsqueeze(-1), x_new, x_old)
        else:
            self.streak.zero_()
        if bool(self.diverged.any()):
            x_new = torch.where(self.diverged.view(-1, 1, 1), x_old, x_new)
        self.x = x_new.detach()

    def exact_trace(self, solver: str) -> np.ndarray:
        w2sq = exact_w2sq_batch(self.x, self.y, self.manifold, solver)
        w2sq[self.diverged.cpu().numpy()] = np.inf
        return w2sq

    def extra_metrics(self) -> dict[str, np.ndarray]:
        with torch.no_grad():
            found = self.flow.extra_metrics(self.x, self.y, self.step)
        return {k: v.detach().double().cpu().numpy() for k, v in found.items()}

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "x": self.x.detach().cpu().clone(),
            "step": self.step,
            "elapsed": self.elapsed,
            "flow": _cpu_clone(self.flow.state_dict()),
            "generators": [g.get_state() for g in self.generators],
            "diverged": self.diverged.cpu().clone(),
            "diverged_at": self.diverged_at.copy(),
            "nonfinite": self.nonfinite.copy(),
            "streak": self.streak.cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.x.device
        self.x = state["x"].to(device)
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.flow.load_state_dict(state["flow"])
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)
        self.diverged = state["diverged"].to(device)
        self.diverged_at = state["diverged_at"].copy()
        self.nonfinite = state["nonfinite"].copy()
        self.streak = state["streak"].to(device)


def _cpu_clone(value: Any) -> Any:
    """Deep copy of a state dict with tensors cloned (never aliases of live parameters)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _cpu_clone(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_clone(v) for v in value)
    return value
