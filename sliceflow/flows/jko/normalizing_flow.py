"""The normalising-flow representation of the JKO-SW flow: one zuko MAF per seed.

rho is the pushforward of fixed base noise by the MAF composed with the Gaussian fit of rho_0;
samples and their exact log-density come from one pass. Weights and optimiser state persist.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from sliceflow.flows.base import FlowContext
from sliceflow.ot.gaussian import fit_gaussian
from sliceflow.random import randn


class NormalizingFlowConfig(BaseModel):
    """zuko MAF per seed, composed with the affine Gaussian fit of rho_0 (identity at start)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transforms: int = Field(3, ge=1)
    hidden_features: list[int] = Field(default_factory=lambda: [64, 64])


class SeedFlows:
    """One zuko MAF per seed, composed with the affine Gaussian fit of rho_0: x = m + C t(z).

    ``t`` (zuko's transform, zero-initialised last layers: the identity at start) is used as the
    sampling map, so samples and their exact log-density come from one pass:
    ``log q(x) = log N(z) - log|det J_t(z)| - log|det C|``. Particles are the flow pushed from
    base noise z (S, n, d) drawn once from the seeds' generators. Weights and the optimiser state
    persist across JKO steps (warm start).
    """

    def __init__(
        self, nf: NormalizingFlowConfig, inner_steps: int, context: FlowContext, make_optimizer
    ) -> None:
        import zuko

        ctx = context
        self.inner_steps, self.context = inner_steps, context
        self.base = randn(ctx.generators, (ctx.n, ctx.d), dtype=ctx.dtype, device=ctx.device)
        self.models = []
        for generator in ctx.generators:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            with torch.random.fork_rng(devices=[]):  # zuko initialises from the global RNG
                torch.manual_seed(seed)
                model = zuko.flows.MAF(
                    ctx.d, transforms=nf.transforms, hidden_features=tuple(nf.hidden_features)
                )
            for layer in model.transform.transforms:
                torch.nn.init.zeros_(layer.hyper[-1].weight)
                torch.nn.init.zeros_(layer.hyper[-1].bias)
            self.models.append(model.to(device=ctx.device, dtype=ctx.dtype))
        self.optimizer = make_optimizer([p for m in self.models for p in m.parameters()])
        self.shift: torch.Tensor | None = None  # (S, d)
        self.chol: torch.Tensor | None = None  # (S, d, d)

    def ensure_initialised(self, x: torch.Tensor) -> None:
        """The first particles seen are rho_0: fix the affine part to their Gaussian fit."""
        if self.shift is None:
            mean, cov = fit_gaussian(x.detach())
            self.shift = mean.to(x.dtype)
            self.chol = torch.linalg.cholesky(cov).to(x.dtype)

    def _affine(self, u: torch.Tensor) -> torch.Tensor:
        return self.shift.unsqueeze(1) + u @ self.chol.transpose(1, 2)

    def _log_det_chol(self) -> torch.Tensor:
        return self.chol.diagonal(dim1=-2, dim2=-1).log().sum(-1, keepdim=True)  # (S, 1)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Particles (S, n, d) and their exact log-density (S, n), differentiable in the weights."""
        pushed = [
            m.transform().call_and_ladj(z) for m, z in zip(self.models, self.base, strict=True)
        ]
        u = torch.stack([p[0] for p in pushed])  # (S, n, d)
        ladj = torch.stack([p[1] for p in pushed])  # (S, n)
        log_q = _std_normal_log_density(self.base) - ladj - self._log_det_chol()
        return self._affine(u), log_q

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log q(x) at arbitrary points (S, n, d) -> (S, n) (inverts the autoregression)."""
        self.ensure_initialised(x)
        u = torch.linalg.solve_triangular(
            self.chol, (x - self.shift.unsqueeze(1)).transpose(1, 2), upper=False
        ).transpose(1, 2)
        pulled = [m.transform().inv.call_and_ladj(v) for m, v in zip(self.models, u, strict=True)]
        z = torch.stack([p[0] for p in pulled])
        ladj = torch.stack([p[1] for p in pulled])  # log|det J_{t^-1}(u)|
        return _std_normal_log_density(z) + ladj - self._log_det_chol()

    def jko_step(self, x_k: torch.Tensor, y: torch.Tensor, inner_terms) -> torch.Tensor:
        self.ensure_initialised(x_k)
        for _ in range(self.inner_steps):
            self.optimizer.zero_grad(set_to_none=True)
            x, log_q = self.sample()
            objective, sw_grad = inner_terms(x, x_k, y, log_q)
            (objective.sum() + (sw_grad * x).sum()).backward()
            self.optimizer.step()
        with torch.no_grad():
            return self.sample()[0]

    def symmetric_kl(self, mean: torch.Tensor, cov: torch.Tensor, log_density) -> torch.Tensor:
        """KL(q || p) + KL(p || q), p = N(mean, cov), both by Monte Carlo on the base noise."""
        s = self.base.shape[0]
        mean, cov = mean.expand(s, -1), cov.expand(s, -1, -1)
        with torch.no_grad():
            x_q, log_q = self.sample()
            kl_qp = (log_q.double() - log_density(x_q, mean, cov)).mean(1)
            x_p = mean.unsqueeze(1) + self.base.double() @ torch.linalg.cholesky(cov).transpose(
                1, 2
            )
            log_q_p = self.log_prob(x_p.to(self.base.dtype)).double()
            kl_pq = (log_density(x_p, mean, cov) - log_q_p).mean(1)
        return kl_qp + kl_pq

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": [m.state_dict() for m in self.models],
            "optimizer": self.optimizer.state_dict(),
            "base": self.base.clone(),
            "shift": None if self.shift is None else self.shift.clone(),
            "chol": None if self.chol is None else self.chol.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for model, weights in zip(self.models, state["models"], strict=True):
            model.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.base = state["base"].clone()
        self.shift = None if state["shift"] is None else state["shift"].clone()
        self.chol = None if state["chol"] is None else state["chol"].clone()


def _std_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) over the last axis."""
    return -0.5 * z.square().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
