"""Projection families of the DGSWP solver: the hook, and the Euclidean family (linear, MLP).

A family says what the learned parameters are and how DGSWP treats them: how they start, how
they are perturbed, how the plan costs of the perturbed projections are gathered, which
estimator turns those costs into a gradient, how an optimiser step moves the parameters, and
which plan a projection induces. :class:`DGSWPSolver` runs the loop over any family;
``_dgswp_ball.py`` holds the Poincaré-ball family.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from sliceflow.optim import BatchedAdam, BatchedSGD
from sliceflow.ot.sliced._plans import PlanCosts, plan_cost
from sliceflow.ot.sliced._projections import (
    INITS,
    PROJECTIONS,
    LowRankMLPSmoothing,
    evaluate,
    init_parameters,
    parameter_count,
    stein_gradient,
    widths_of,
)
from sliceflow.ot.sliced._slicing import argsort_rows, stable_argsort_rows
from sliceflow.random import randn


@dataclass
class Perturbation:
    """The plan costs of the current parameters and of their N perturbations, and the draws.

    ``costs`` (S, N+1) float64, the unperturbed parameters first; ``draws``: what the family's
    estimator needs (the Gaussian directions (S, N, P), the low-rank draws of ``sampler``, or
    the perturbed ideal points (S, N, d)); ``sampler``: the low-rank sampler that drew them.
    """

    costs: torch.Tensor
    draws: Any
    sampler: LowRankMLPSmoothing | None = None


class ProjectionFamily(Protocol):
    """What DGSWP needs from a kind of projection; every tensor has a leading seed axis S."""

    def init_params(self, generators: list[torch.Generator]) -> torch.Tensor:
        """Initial parameters (S, P); seed i draws from ``generators[i]`` only."""

    def prepare(self, x: torch.Tensor, y: torch.Tensor, costs: Any = None) -> Any:
        """Fixed clouds x (S, n, d), y (S, m, d) with their plan-cost gathers (or ``costs``)."""

    def draws(self, generators, clouds: Any, count: int, steps: int) -> Iterator[Any]:
        """The draws of ``steps`` steps of ``count`` perturbations, step by step, drawn in the
        family's order (e.g. lazily per step, or all at once on the first)."""

    def perturb(self, params: torch.Tensor, draws: Any, clouds: Any) -> Perturbation:
        """Plan costs of ``params`` (S, P) and of its perturbations by ``draws``."""

    def plan_costs(self, models: torch.Tensor, clouds: Any) -> torch.Tensor:
        """Plan costs (S, K) float64 of K parameter sets per seed, (S, K, P)."""

    def gradient(self, params: torch.Tensor, perturbation: Perturbation, variance_reduction: bool):
        """The estimate of the gradient of the smoothed plan cost at ``params``."""

    def optimizer(self, params: torch.Tensor, name: str, lr: float) -> Any:
        """An optimiser moving ``params`` in place: ``step([grad])``, ``rows(index)``,
        ``step_count``, ``state_dict()``, ``load_state_dict(state)``."""

    def orders(self, models: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
        """The plans of K parameter sets (S, K, P): sigma, tau (S, K, k), x[sigma] -> y[tau]."""

    def matched_cost(self, x, y, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Differentiable cost (S,) of the plan ``x[sigma[i]] -> y[tau[i]]``, sigma (S, k)."""

    def work(self, x: torch.Tensor, y: torch.Tensor, count: int) -> float:
        """Multiply-adds per seed and step (heavy steps run ranges of seeds in threads)."""

    def end_fit(self, params: torch.Tensor) -> None:
        """What a fit leaves on ``params`` once done (e.g. the precision the clouds use)."""


@dataclass
class ModelClouds:
    """Fixed clouds for :class:`EuclideanProjections`: the Gram gathers of the squared
    Euclidean plan costs (``PlanCosts``) and the low-rank sampler when it applies."""

    x: torch.Tensor
    y: torch.Tensor
    costs: PlanCosts
    smoothing: LowRankMLPSmoothing | None = None


class EuclideanProjections:
    """Scalar models ``m_phi: R^d -> R``, linear or MLP, with Gaussian smoothing of scale eps.

    .. math:: \\nabla h_\\epsilon(\\phi) \\approx \\frac1N \\sum_{k=1}^N
              \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k, \\qquad
              Z_k \\sim N(0, I_P)

    Parameters
    ----------
    kind : ``"linear"`` or ``"mlp"`` (``sliceflow.ot.sliced.evaluate``).
    widths : hidden widths of the mlp (an int or a list); ignored if linear.
    dim : dimension d of the points.
    dtype, device : of the parameters (the clouds').
    eps : smoothing scale.
    stable_sort : break ties of model values by index (``stable_argsort_rows``) instead of
        NumPy's default sort.
    low_rank : for a one-hidden-layer MLP with d + 1 > n + m, sample the perturbations in the
        span of the points (``LowRankMLPSmoothing``: the same estimator in distribution).
    init : initialisation of an mlp, ``"he"`` or ``"torch_default"`` (``init_parameters``).

    The N + 1 models are evaluated in one batched computation; their plan costs are gathers
    (``PlanCosts``); the optimiser is ``BatchedSGD`` or ``BatchedAdam`` on the flat (S, P).
    """

    def __init__(
        self,
        kind: str,
        widths: int | Sequence[int],
        dim: int,
        *,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        eps: float = 0.05,
        stable_sort: bool = False,
        low_rank: bool = True,
        init: str = "he",
    ) -> None:
        if kind not in PROJECTIONS:
            raise ValueError(f"unknown projection {kind!r}; use one of {', '.join(PROJECTIONS)}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
        self.kind, self.widths, self.dim = kind, widths_of(widths), dim
        self.dtype, self.device, self.eps, self.low_rank = dtype, device, float(eps), low_rank
        self.init = init
        self.size = parameter_count(kind, dim, self.widths)  # P
        self.argsort = stable_argsort_rows if stable_sort else argsort_rows

    def init_params(self, generators: list[torch.Generator]) -> torch.Tensor:
        return init_parameters(
            self.kind, self.dim, self.widths, generators, dtype=self.dtype, device=self.device,
            init=self.init,
        )  # fmt: skip

    def values(self, models: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Model values: models (S, K, P), points (S, M, d) -> (S, K, M)."""
        return evaluate(self.kind, models, points, self.widths)

    def orders(self, models: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
        return self.split_orders(self.values(models, torch.cat([x, y], 1)), x.shape[1])

    def split_orders(self, values: torch.Tensor, n: int):
        """Orderings of the first n values and of the rest, (S, K, n + m) -> sigma, tau: one
        sort call on the contiguous (S, K, 2, n) view when n == m (the sorts' per-call work and
        the copies of two strided halves avoided), else one per half."""
        if values.shape[-1] == 2 * n:
            order = self.argsort(values.unflatten(-1, (2, n)))  # (S, K, 2, n)
            return order[..., 0, :], order[..., 1, :]
        return self.argsort(values[..., :n]), self.argsort(values[..., n:])

    def prepare(self, x: torch.Tensor, y: torch.Tensor, costs: PlanCosts | None = None):
        costs = PlanCosts(x, y) if costs is None else costs
        return ModelClouds(x, y, costs, self.smoothing(x, y) if self.low_rank else None)

    def smoothing(self, x: torch.Tensor, y: torch.Tensor) -> LowRankMLPSmoothing | None:
        """The low-rank sampler for these clouds when it applies (one hidden layer, d+1 > n+m)."""
        one_layer = self.kind == "mlp" and len(self.widths) == 1
        if one_layer and x.shape[-1] + 1 > x.shape[1] + y.shape[1]:
            return LowRankMLPSmoothing(torch.cat([x, y], 1), self.widths[0])
        return None

    def draws(self, generators, clouds: ModelClouds, count: int, steps: int) -> Iterator[Any]:
        for _ in range(steps):  # drawn lazily, at the start of each step
            if clouds.smoothing is not None:
                yield clouds.smoothing.draw(generators, count, self.dtype, self.device)
            else:
                yield randn(generators, (count, self.size), dtype=self.dtype, device=self.device)

    def perturb(self, params: torch.Tensor, draws: Any, clouds: ModelClouds) -> Perturbation:
        if clouds.smoothing is not None:
            values = clouds.smoothing.values(params, draws, self.eps)  # (S, N+1, n+m)
            costs = clouds.costs(*self.split_orders(values, clouds.x.shape[1]))
            return Perturbation(costs, draws, clouds.smoothing)
        base = params.unsqueeze(1)
        models = torch.cat([base, base + self.eps * draws], 1)  # (S, N+1, P)
        return Perturbation(self.plan_costs(models, clouds), draws)

    def plan_costs(self, models: torch.Tensor, clouds: ModelClouds) -> torch.Tensor:
        return clouds.costs(*self.orders(models, clouds.x, clouds.y))

    def gradient(self, params, perturbation: Perturbation, variance_reduction: bool):
        h, draws = perturbation.costs, perturbation.draws
        if perturbation.sampler is not None:
            return perturbation.sampler.gradient(h, draws, self.eps, variance_reduction)
        return stein_gradient(h, draws, self.eps, variance_reduction)

    def optimizer(self, params: torch.Tensor, name: str, lr: float):
        optimizers = {"adam": BatchedAdam, "sgd": BatchedSGD}
        if name not in optimizers:
            raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(optimizers)}")
        return optimizers[name]([params], lr=lr)

    def matched_cost(self, x, y, sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return plan_cost(x, y, sigma, tau)

    def work(self, x: torch.Tensor, y: torch.Tensor, count: int) -> float:
        return (count + 1) * (x.shape[1] + y.shape[1]) * self.size

    def end_fit(self, params: torch.Tensor) -> None:
        """Nothing: the parameters already have the clouds' dtype."""
