"""The learned projection of DGSWP (differentiable generalised sliced Wasserstein plans, 2025):
Stein-smoothed descent on the cost of the permutation plan a scalar model induces.

A model ``m_phi: R^d -> R`` (``sliceflow.ot.sliced.evaluate``: linear, or an MLP with any list of
hidden widths) orders both clouds; matching the orderings gives a permutation plan of cost
``h(phi)``. ``h`` is piecewise constant, so DGSWP descends its Gaussian smoothing
``h_eps(phi) = E h(phi + eps Z)`` with Stein's estimator (the paper's Eq. 8 with variance
reduction, or the plain one), by SGD or Adam, all seeds batched. :class:`DGSWPSolver` is what the
particle flow (``flows/dgswp.py``), the plan task (``tasks/plan.py``) and any other user (e.g. a
coupling for flow matching) share::

    solver = DGSWPSolver("mlp", [64, 16], d, generators, dtype=torch.float32, device="cpu")
    costs = solver.step(x, y)          # one Stein step; (S, N+1) plan costs, current one first
    solver.fit(x, y, steps=20)         # an inner loop (with keep_best: roll back to the best)
    sigma, tau = solver.orders(x, y)   # the plan of the current model: x[sigma[i]] -> y[tau[i]]
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sliceflow._kernels.threads import run_ranges, seed_ranges
from sliceflow.optim import BatchedAdam, BatchedSGD
from sliceflow.ot.sliced._plans import PlanCosts
from sliceflow.ot.sliced._projections import (
    PROJECTIONS,
    LowRankMLPSmoothing,
    evaluate,
    init_parameters,
    stein_gradient,
    widths_of,
)
from sliceflow.ot.sliced._slicing import argsort_rows, stable_argsort_rows
from sliceflow.random import randn

OPTIMIZERS = ("sgd", "adam")


@dataclass
class Perturbation:
    """The plan costs of the current model and its N perturbations, and the draws behind them.

    ``costs`` (S, N+1) float64, the unperturbed model first; ``draws``: the Gaussian directions
    (S, N, P), or the low-rank draws of ``smoothing`` (a ``LowRankMLPSmoothing``).
    """

    costs: torch.Tensor
    draws: Any
    smoothing: LowRankMLPSmoothing | None = None


class DGSWPSolver:
    """A scalar projection per seed, learned by Stein-smoothed descent on its plan cost.

    .. math:: h(\\phi) = \\frac1n \\sum_i \\|x_{\\sigma_\\phi(i)} - y_{\\tau_\\phi(i)}\\|^2,
              \\quad \\nabla h_\\epsilon(\\phi) \\approx \\frac1N \\sum_{k=1}^N
              \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k

    Parameters
    ----------
    kind : ``"linear"`` or ``"mlp"``.
    widths : hidden widths of the mlp (an int or a list, e.g. ``[64, 16]``); ignored if linear.
    dim : dimension d of the points.
    generators : one ``torch.Generator`` per seed; seed i draws from ``generators[i]`` only.
    eps, n_perturbations : smoothing scale and number N of Stein samples per step.
    variance_reduction : subtract ``h(phi)`` in the estimator (the paper's Eq. 8) or not.
    optimizer, lr : ``"sgd"`` (plain) or ``"adam"`` on the flat parameters (S, P).
    keep_best : ``fit`` rolls back to the iterate of lowest plan cost (final one included).
    stable_sort : break ties of model values by index (``stable_argsort_rows``, faster on long
        float32 rows) instead of NumPy's default sort (the flows' choice).
    threads : threads over seeds in ``fit`` (default: the cores, when a step is heavy enough).

    The current model and its N perturbations are evaluated in one batched computation and their
    plan costs are gathers from the Gram matrix (``PlanCosts``). For a one-hidden-layer MLP in
    dimension d + 1 > n + m the perturbations are sampled in the span of the points
    (``LowRankMLPSmoothing``: the same estimator in distribution, about (d+1)/(n+m) times cheaper).
    """

    def __init__(
        self,
        kind: str,
        widths: int | Sequence[int],
        dim: int,
        generators: list[torch.Generator],
        *,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        eps: float = 0.05,
        n_perturbations: int = 10,
        variance_reduction: bool = True,
        optimizer: str = "adam",
        lr: float = 0.01,
        keep_best: bool = False,
        stable_sort: bool = False,
        threads: int | None = None,
    ) -> None:
        if kind not in PROJECTIONS:
            raise ValueError(f"unknown projection {kind!r}; use one of {', '.join(PROJECTIONS)}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if not eps > 0 or n_perturbations < 1 or not lr > 0:
            raise ValueError("eps and lr must be > 0 and n_perturbations >= 1")
        self.kind, self.widths = kind, widths_of(widths)
        self.generators = generators
        self.eps, self.n_perturbations = float(eps), int(n_perturbations)
        self.variance_reduction, self.keep_best = variance_reduction, keep_best
        self.argsort = stable_argsort_rows if stable_sort else argsort_rows
        self.threads = threads
        self.params = init_parameters(
            kind, dim, self.widths, generators, dtype=dtype, device=device
        )  # (S, P)
        optimizers = {"adam": BatchedAdam, "sgd": BatchedSGD}
        self.optimizer = optimizers[optimizer]([self.params], lr=lr)
        self.best_cost: torch.Tensor | None = None  # (S,) lowest plan cost remembered
        self.best_params: torch.Tensor | None = None  # (S, P) a copy of its parameters

    # -- plans ---------------------------------------------------------------------------------
    def values(self, points: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        """Model values: points (S, M, d), params (S, K, P) (default: current) -> (S, K, M)."""
        params = self.params.unsqueeze(1) if params is None else params
        return evaluate(self.kind, params, points, self.widths)

    def orders_of(self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
        """Orderings of x and y under K models per seed: (S, K, P) -> sigma, tau (S, K, n)."""
        return self._split_orders(self.values(torch.cat([x, y], 1), params), x.shape[1])

    def _split_orders(self, values: torch.Tensor, n: int):
        """Orderings of the first n values and of the rest, (S, K, n + m) -> sigma, tau: one
        sort call on the contiguous (S, K, 2, n) view when n == m (the sorts' per-call work and
        the copies of two strided halves avoided), else one per half."""
        if values.shape[-1] == 2 * n:
            order = self.argsort(values.unflatten(-1, (2, n)))  # (S, K, 2, n)
            return order[..., 0, :], order[..., 1, :]
        return self.argsort(values[..., :n]), self.argsort(values[..., n:])

    def orders(self, x: torch.Tensor, y: torch.Tensor):
        """The plan of the current model: sigma, tau (S, n), ``x[sigma[i]]`` -> ``y[tau[i]]``."""
        sigma, tau = self.orders_of(self.params.unsqueeze(1), x.detach(), y.detach())
        return sigma[:, 0], tau[:, 0]

    def cost(self, x: torch.Tensor, y: torch.Tensor, costs: PlanCosts | None = None):
        """Plan cost of the current model per seed, (S,) float64."""
        costs = PlanCosts(x, y) if costs is None else costs
        return costs(*self.orders_of(self.params.unsqueeze(1), x, y))[:, 0]

    def smoothing(self, x: torch.Tensor, y: torch.Tensor) -> LowRankMLPSmoothing | None:
        """The low-rank sampler for these clouds when it applies (one hidden layer, d+1 > n+m)."""
        one_layer = self.kind == "mlp" and len(self.widths) == 1
        if one_layer and x.shape[-1] + 1 > x.shape[1] + y.shape[1]:
            return LowRankMLPSmoothing(torch.cat([x, y], 1), self.widths[0])
        return None

    # -- one Stein step ------------------------------------------------------------------------
    @torch.no_grad()
    def perturb(self, x, y, costs: PlanCosts, smoothing=None) -> Perturbation:
        """Draw N perturbations and evaluate the plan costs of phi and phi + eps Z_k."""
        p, eps, N = self.params, self.eps, self.n_perturbations
        if smoothing is not None:
            draws = smoothing.draw(self.generators, N, p.dtype, p.device)
            values = smoothing.values(p, draws, eps)  # (S, N+1, n+m)
            h = costs(*self._split_orders(values, x.shape[1]))
            return Perturbation(h, draws, smoothing)
        z = randn(self.generators, (N, p.shape[-1]), dtype=p.dtype, device=p.device)  # (S, N, P)
        models = torch.cat([p.unsqueeze(1), p.unsqueeze(1) + eps * z], 1)  # (S, N+1, P)
        return Perturbation(costs(*self.orders_of(models, x, y)), z)

    def gradient(self, perturbation: Perturbation) -> torch.Tensor:
        """Stein estimate (S, P) of the gradient of the smoothed plan cost."""
        h, vr = perturbation.costs, self.variance_reduction
        if perturbation.smoothing is not None:
            return perturbation.smoothing.gradient(h, perturbation.draws, self.eps, vr)
        return stein_gradient(h, perturbation.draws, self.eps, vr)

    @torch.no_grad()
    def update(self, perturbation: Perturbation) -> None:
        """One optimiser step with the Stein gradient; with ``keep_best``, first remember the
        cost of the parameters it leaves."""
        grad = self.gradient(perturbation)
        if self.keep_best:
            self.remember(perturbation.costs[:, 0])
        self.optimizer.step([grad])

    def step(self, x, y, costs: PlanCosts | None = None, smoothing=None) -> torch.Tensor:
        """``perturb`` then ``update``; returns the plan costs (S, N+1), current model first."""
        costs = PlanCosts(x, y) if costs is None else costs
        perturbation = self.perturb(x, y, costs, smoothing)
        self.update(perturbation)
        return perturbation.costs

    def fit(self, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
        """``steps`` Stein steps on fixed clouds; with ``keep_best``, end on the iterate of
        lowest plan cost among those visited (the last one included).

        Heavy steps (e.g. an MLP in d = 500) run ranges of seeds in parallel threads on views of
        the parameters and of the optimiser's state (``sliceflow._kernels.threads``): the same
        numbers
        as one thread.
        """
        x, y = x.detach(), y.detach()
        work = (self.n_perturbations + 1) * (x.shape[1] + y.shape[1]) * self.params.shape[-1]
        ranges = seed_ranges(x.shape[0], work, self.threads)
        if len(ranges) == 1:
            self._fit(x, y, steps)
            return
        parts = {(r.start, r.stop): self.rows(r) for r in ranges}
        run_ranges(lambda r: parts[r.start, r.stop]._fit(x[r], y[r], steps), ranges)
        self.optimizer.step_count = parts[ranges[0].start, ranges[0].stop].optimizer.step_count

    def rows(self, index: slice) -> DGSWPSolver:
        """The solver of seeds ``index``: views of these parameters and optimiser state (its
        steps update this solver's tensors in place) and those seeds' generators."""
        part = copy.copy(self)
        part.params, part.generators = self.params[index], self.generators[index]
        part.optimizer = self.optimizer.rows(index)
        part.best_cost = part.best_params = None
        return part

    @torch.no_grad()
    def _fit(self, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
        costs, smoothing = PlanCosts(x, y), self.smoothing(x, y)
        self.forget_best()
        for _ in range(steps):
            self.step(x, y, costs, smoothing)
        if self.keep_best and self.best_cost is not None:
            self.remember(self.cost(x, y, costs))
            self.restore_best()
        self.forget_best()

    # -- keep_best -----------------------------------------------------------------------------
    def remember(self, cost: torch.Tensor) -> None:
        """Keep a copy (never an alias) of the current parameters where ``cost`` (S,) is lower
        than the best remembered (ties keep the earlier)."""
        if self.best_cost is None:
            self.best_cost, self.best_params = cost.clone(), self.params.clone()
            return
        better = cost < self.best_cost  # (S,)
        self.best_cost = torch.where(better, cost, self.best_cost)
        self.best_params = torch.where(better[:, None], self.params, self.best_params)

    def restore_best(self) -> None:
        """Roll the parameters back to the best remembered."""
        if self.best_params is not None:
            self.params.copy_(self.best_params)

    def forget_best(self) -> None:
        self.best_cost = self.best_params = None

    # -- persistence ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {"params": self.params.clone(), "optimizer": self.optimizer.state_dict()}
        if self.best_cost is not None:
            state["best"] = (self.best_cost.clone(), self.best_params.clone())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.params.copy_(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.forget_best()
        if "best" in state:
            cost, params = state["best"]
            self.best_cost, self.best_params = cost.clone(), params.clone()
