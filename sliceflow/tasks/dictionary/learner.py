"""The learner of ``task: dictionary``: atoms and weights by Adam through softmax parametrisations.

Per seed s: atoms ``A_s = softmax(alpha_s)`` (each of the K atoms a histogram over the n bins),
weights ``lambda_si = softmax(beta_si)`` (on the K-simplex), reconstructions
``b_si = bary(A_s, lambda_si)`` by ``n_iter`` log-domain iterations
(``sliceflow.ot.entropic.barycenter``,
``tol=None``) and the loss ``sum_i L(b_si, d_si)``. One step = one epoch: the gradient over all
data, then one Adam step on ``(alpha, beta)``.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from sliceflow.ot.entropic import barycenter
from sliceflow.registry import Registry
from sliceflow.tasks.base import Stepper

# Stored iterates of one barycentre call (two (n, C, K) tensors per iteration) stay under this.
_CHUNK_BYTES = 256 * 2**20


class WDLConfig(BaseModel):
    """Parameters of ``method: wdl``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_atoms: int = Field(gt=0, le=100_000, description="K, the number of atoms")
    reg: float = Field(gt=0, description="entropic regularisation of the barycentres")
    n_iter: int = Field(25, gt=0, le=1_000_000, description="log-domain iterations (fixed)")
    lr: float = Field(0.1, gt=0, description="Adam step size on the softmax logits")
    loss: Literal["quadratic", "kl"] = "quadratic"
    gradient: Literal["unrolled", "autograd"] = "unrolled"
    init: Literal["data", "random"] = Field(
        "data", description="initial atoms: K data picked farthest-first, or random logits"
    )
    init_scale: float = Field(1.0, ge=0, description="std of random initial logits")


def reconstruction_loss(b: torch.Tensor, d: torch.Tensor, kind: str) -> torch.Tensor:
    """Sum over data and bins of the loss between reconstructions and data, (C, n) -> ().

    .. math:: \\sum_i \\|b_i - d_i\\|^2 \\quad\\text{or}\\quad
              \\sum_i \\sum_j d_{ij} \\log(d_{ij} / b_{ij}) - d_{ij} + b_{ij}
    """
    if kind == "quadratic":
        return (b - d).square().sum()
    return (torch.xlogy(d, d) - torch.xlogy(d, b) - d + b).sum()


class DictionaryStepper(Stepper):
    """One learner: all seeds' atoms ``alpha`` (S, K, n) and weights ``beta`` (S, N, K).

    Seeds are looped, each seed's data in one batched barycentre call (or a few chunks): a kernel
    product is then the same GEMM alone or in a batch, so a seed's numbers are bit-identical
    alone or among others (one GEMM over all seeds' columns is not: its blocking depends on the
    width). A seed whose loss or gradient becomes non-finite is frozen, its loss reported as inf.
    """

    Config = WDLConfig
    summary = "dictionary learning: atoms and weights by Adam through log-domain barycentres"

    def __init__(self, spec, task) -> None:
        self.label, self.config = spec.label, spec.params
        self.data, self.cost, self.steps = task.data, task.cost, task.scenario.steps
        self.n_shown, self.width = task.n_shown(), task.n_atoms
        self.true_atoms, self.grid_shape = task.true_atoms, task.grid_shape
        self.x = task.grid[:, 0] if len(task.grid_shape) == 1 else None
        self.seeds = list(task.scenario.seeds)
        S, N, n = self.data.shape
        K = self.config.n_atoms
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in self.seeds]
        alpha = torch.stack([self._initial_logits(s, K) for s in range(S)])  # (S, K, n)
        self.alpha = alpha.to(self.data).requires_grad_(True)
        self.beta = self.data.new_zeros(S, N, K).requires_grad_(True)  # uniform weights
        self.optimizer = torch.optim.Adam([self.alpha, self.beta], lr=self.config.lr)
        per_datum = 2 * self.config.n_iter * n * K * self.data.element_size()
        self.chunk = max(1, _CHUNK_BYTES // per_datum)
        self.step, self.elapsed = 0, 0.0
        self.diverged = np.zeros(S, dtype=bool)
        self.diverged_at = np.full(S, -1)

    def _initial_logits(self, s: int, K: int) -> torch.Tensor:
        """Seed ``s``'s initial logits (K, n): ``init_scale * N(0, 1)``, or the log of K data
        picked farthest-first in L2 (k-means++ style, the first at random), mixed with 10% of
        the uniform histogram so that no bin starts at log 0."""
        generator, data = self.generators[s], self.data[s].double().cpu()  # (N, n)
        N, n = data.shape
        if self.config.init == "random":
            return self.config.init_scale * torch.randn(K, n, generator=generator,
                                                        dtype=torch.float64)  # fmt: skip
        chosen = [int(torch.randint(N, (1,), generator=generator))]
        distance = (data - data[chosen[0]]).square().sum(1)  # (N,)
        for _ in range(K - 1):
            chosen.append(int(distance.argmax()))
            distance = torch.minimum(distance, (data - data[chosen[-1]]).square().sum(1))
        return (0.9 * data[chosen] + 0.1 / n).log()

    # -- maths ---------------------------------------------------------------------------------
    def reconstruct(self, s: int, rows: slice) -> torch.Tensor:
        """Barycentres of seed ``s``'s atoms for its data ``rows``: (C, n)."""
        atoms = self.alpha[s].softmax(dim=-1).T  # (n, K)
        weights = self.beta[s, rows].softmax(dim=-1)  # (C, K)
        config = self.config
        return barycenter(atoms, self.cost, weights, config.reg, method="log",
                          gradient=config.gradient, max_iter=config.n_iter, tol=None)  # fmt: skip

    def _chunks(self) -> list[slice]:
        N = self.data.shape[1]
        return [slice(i, min(i + self.chunk, N)) for i in range(0, N, self.chunk)]

    def _seed_pass(self, s: int, learn: bool) -> tuple[float, float]:
        """Loss and squared error of seed ``s``; with ``learn`` its gradient is accumulated."""
        loss = l2 = 0.0
        for rows in self._chunks():
            with torch.set_grad_enabled(learn):
                try:
                    b = self.reconstruct(s, rows)
                except ValueError:  # non-finite iterates (e.g. a reg far too small): frozen
                    return np.inf, np.inf
                d = self.data[s, rows]
                value = reconstruction_loss(b, d, self.config.loss)
                if learn:
                    value.backward()
            loss += float(value.detach())
            l2 += float((b.detach() - d).square().sum())
        return loss, l2

    # -- the engine's calls ----------------------------------------------------------------------
    def advance(self, want_values: bool) -> dict[str, np.ndarray]:
        """Epoch ``self.step``: loss and gradient over all data, then one Adam step."""
        start = time.perf_counter()
        last = self.step >= self.steps
        S = len(self.seeds)
        loss, l2 = np.full(S, np.inf), np.full(S, np.inf)
        self.optimizer.zero_grad(set_to_none=False)
        for s in np.flatnonzero(~self.diverged):
            loss[s], l2[s] = self._seed_pass(int(s), learn=not last)
        if not last:
            self._update(loss)
            self.step += 1
        self.elapsed += time.perf_counter() - start
        return {"loss": loss, "l2": l2} if want_values else {}

    def _update(self, loss: np.ndarray) -> None:
        """Adam step; seeds with a non-finite loss or gradient are frozen from now on."""
        if self.alpha.grad is None:  # every seed is frozen: nothing was differentiated
            return
        with torch.no_grad():
            finite = self.alpha.grad.isfinite().flatten(1).all(1)
            finite &= self.beta.grad.isfinite().flatten(1).all(1)
            newly = ~self.diverged & (~finite.cpu().numpy() | ~np.isfinite(loss))
            self.diverged_at[newly] = self.step
            self.diverged |= newly
            frozen = torch.from_numpy(self.diverged).to(self.alpha.device)
            kept = (self.alpha.detach().clone(), self.beta.detach().clone())
            for parameter in (self.alpha, self.beta):
                parameter.grad[frozen] = 0.0
            self.optimizer.step()
            if self.diverged.any():
                self.alpha[frozen] = kept[0][frozen]
                self.beta[frozen] = kept[1][frozen]

    def atoms(self) -> torch.Tensor:
        return self.alpha.detach().softmax(dim=-1)  # (S, K, n)

    def weights(self) -> torch.Tensor:
        return self.beta.detach().softmax(dim=-1)  # (S, N, K)

    def snapshot(self) -> np.ndarray:
        """(S, width + shown, n): the atoms (NaN rows up to the run's largest K), then the
        reconstructions of the first ``n_shown`` data."""
        S, _, n = self.data.shape
        out = np.full((S, self.width + self.n_shown, n), np.nan)
        K = self.config.n_atoms
        out[:, :K] = self.atoms().double().cpu().numpy()
        with torch.no_grad():
            for s in range(S):
                try:
                    b = self.reconstruct(s, slice(0, self.n_shown))
                except ValueError:  # non-finite iterates: the seed is (or will be) frozen
                    continue
                out[s, self.width :] = b.double().cpu().numpy()
        return out

    def metrics(self) -> dict[str, np.ndarray]:
        """``atoms_w2``: with known atoms on a 1-D grid, the largest W2 between a true atom and
        the learned atom matched to it (the matching minimises the sum of W2)."""
        if self.true_atoms is None or self.x is None:
            return {}
        learned = self.atoms().double().cpu().numpy()
        return {"atoms_w2": np.array([matched_atom_w2(learned[s], self.true_atoms[s], self.x)
                                      for s in range(len(self.seeds))])}  # fmt: skip

    def table_rows(self) -> dict[str, list[tuple]]:
        """weights.csv at the last step: (method, seed, step, datum, atom, weight)."""
        if self.step != self.steps:
            return {}
        weights = self.weights().double().cpu().numpy()  # (S, N, K)
        S, N, K = weights.shape
        rows = [(self.label, self.seeds[s], self.step, i, k, float(weights[s, i, k]))
                for s in range(S) for i in range(N) for k in range(K)]  # fmt: skip
        return {"weights.csv": rows}

    def info(self) -> dict[str, list]:
        return {"diverged_at_step": self.diverged_at.tolist()}

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha.detach().cpu().clone(),
            "beta": self.beta.detach().cpu().clone(),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "step": self.step,
            "elapsed": self.elapsed,
            "generators": [g.get_state() for g in self.generators],
            "diverged": self.diverged.copy(),
            "diverged_at": self.diverged_at.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.alpha.copy_(state["alpha"])
            self.beta.copy_(state["beta"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)
        self.diverged, self.diverged_at = state["diverged"].copy(), state["diverged_at"].copy()


def matched_atom_w2(learned: np.ndarray, true: np.ndarray, x: np.ndarray) -> float:
    """Largest 1-D W2 over the pairs of an optimal matching of true and learned atoms.

    .. math:: \\max_k W_2(a_k, \\hat a_{\\sigma(k)}), \\quad
              \\sigma = \\arg\\min_\\sigma \\sum_k W_2(a_k, \\hat a_{\\sigma(k)})

    ``learned`` (K, n), ``true`` (K', n) on the sorted bins ``x`` (n,); exact 1-D W2 (POT).
    """
    import ot
    from scipy.optimize import linear_sum_assignment

    distance = np.array([[np.sqrt(max(ot.wasserstein_1d(x, x, t, a, p=2), 0.0)) for a in learned]
                         for t in true])  # fmt: skip
    rows, columns = linear_sum_assignment(distance)
    return float(distance[rows, columns].max())


METHODS: Registry = Registry("dictionary method", "sliceflow.tasks.dictionary")
METHODS.add("wdl", DictionaryStepper)


def get_method(name: str) -> type[DictionaryStepper]:
    """The learner registered as ``name``; ``ValueError`` naming the closest and the known ones."""
    return METHODS.lookup(name)
