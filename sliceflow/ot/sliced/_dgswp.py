"""DGSWP (differentiable generalised sliced Wasserstein plans, 2025): one solver for any
projection family.

A parametrised scalar projection orders both clouds; matching the orderings gives a permutation
plan of cost ``h(phi)``. ``h`` is piecewise constant, so DGSWP descends a smoothing of it,
estimated from the plan costs of N random perturbations of the current parameters, all seeds
batched. :class:`DGSWPSolver` runs that loop (perturb, estimate, step, optionally keep the
best iterate); a :class:`ProjectionFamily` says what the parameters are and how each part is
done:

- ``linear`` / ``mlp`` (:class:`EuclideanProjections`): models on R^d, Gaussian smoothing,
  Stein's estimator, SGD or Adam, plan costs from the Gram matrix (``PlanCosts``);
- ``busemann`` (:class:`BusemannProjections`): ideal points on the Poincaré ball's sphere at
  infinity, von Mises-Fisher smoothing, the score estimator, Riemannian SGD, plan costs from the
  squared-geodesic cost matrix; with ``perturbation: gaussian``
  (:class:`GaussianBusemannProjections`), the authors' code's ``p + eps Z`` and Stein's
  estimator projected on the sphere.

The particle flows, the plan task and the flow-matching coupling are adapters of it::

    config = DGSWPConfig(projection="mlp", hidden=[64, 16], optimizer="sgd", inner_lr=0.2)
    solver = DGSWPSolver.from_config(config, d, generators, dtype=torch.float32)
    clouds = solver.prepare(x, y)      # fixed clouds and their plan-cost gathers
    costs = solver.step(clouds)        # one step; (S, N+1) plan costs, current one first
    solver.fit(x, y, steps=20)         # an inner loop (with keep_best: roll back to the best)
    sigma, tau = solver.orders(x, y)   # the plan of the current model: x[sigma[i]] -> y[tau[i]]
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from sliceflow._kernels.threads import run_ranges, seed_ranges
from sliceflow.ot.sliced._dgswp_ball import BusemannProjections
from sliceflow.ot.sliced._dgswp_ball_gaussian import GaussianBusemannProjections
from sliceflow.ot.sliced._dgswp_config import DGSWPConfig
from sliceflow.ot.sliced._dgswp_families import (
    EuclideanProjections,
    Perturbation,
    ProjectionFamily,
)


def projection_family(
    config: DGSWPConfig,
    dim: int,
    *,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    curvature: float | None = None,
    stable_sort: bool = False,
    low_rank: bool = True,
) -> ProjectionFamily:
    """The family ``config.projection`` names, for points in R^d or, with ``curvature`` c, on
    the Poincaré ball of curvature -c (only ``busemann`` there, and only there).

    ``stable_sort`` and ``low_rank``: options of :class:`EuclideanProjections`.
    """
    if config.projection == "busemann":
        if curvature is None:
            raise ValueError(
                "projection busemann learns an ideal point of the Poincaré ball; "
                "in R^d use projection linear or mlp"
            )
        if config.perturbation == "gaussian":  # the authors' code
            return GaussianBusemannProjections(
                dim, curvature=curvature, eps=config.eps, dtype=dtype, device=device
            )
        return BusemannProjections(
            dim, curvature=curvature, kappa=config.kappa, dtype=dtype, device=device
        )
    if curvature is not None:
        raise ValueError(
            f"dgswp on the Poincaré ball learns a Busemann projection, not {config.projection}: "
            "set projection: busemann"
        )
    return EuclideanProjections(
        config.projection, config.hidden, dim, dtype=dtype, device=device, eps=config.eps,
        stable_sort=stable_sort, low_rank=low_rank, init=config.init,
    )  # fmt: skip


class DGSWPSolver:
    """Parameters of a scalar projection per seed, learned by smoothed descent on its plan cost.

    .. math:: h(\\phi) = \\frac1k \\sum_i c\\big(x_{\\sigma_\\phi(i)}, y_{\\tau_\\phi(i)}\\big),
              \\quad \\nabla h_\\epsilon(\\phi) \\approx \\frac1N \\sum_{k=1}^N
              \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k

    (the Euclidean family; the ball's estimator is in ``_dgswp_ball.py``).

    Parameters
    ----------
    family : the projection family (:func:`projection_family` builds the named ones).
    generators : one ``torch.Generator`` per seed; seed i draws from ``generators[i]`` only.
    config : ``n_perturbations`` N, ``variance_reduction`` (subtract ``h(phi)``, the paper's
        Eq. 8), ``optimizer`` and ``inner_lr``, ``keep_best`` (``fit`` ends on the iterate of
        lowest plan cost, final one included); the family's own keys are read by the family.
    threads : threads over seeds in ``fit`` (default: the cores, when a step is heavy enough).
    """

    def __init__(
        self,
        family: ProjectionFamily,
        generators: list[torch.Generator],
        config: DGSWPConfig,
        *,
        threads: int | None = None,
    ) -> None:
        self.family, self.generators, self.config = family, generators, config
        self.n_perturbations, self.keep_best = config.n_perturbations, config.keep_best
        self.variance_reduction, self.threads = config.variance_reduction, threads
        self.params = family.init_params(generators)  # (S, P)
        self.optimizer = family.optimizer(self.params, config.optimizer, config.inner_lr)
        self.best_cost: torch.Tensor | None = None  # (S,) lowest plan cost remembered
        self.best_params: torch.Tensor | None = None  # (S, P) a copy of its parameters

    @classmethod
    def from_config(
        cls,
        config: DGSWPConfig,
        dim: int,
        generators: list[torch.Generator],
        *,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        curvature: float | None = None,
        stable_sort: bool = False,
        low_rank: bool = True,
        threads: int | None = None,
    ) -> DGSWPSolver:
        """The solver of the family ``config.projection`` (:func:`projection_family`)."""
        family = projection_family(
            config, dim, dtype=dtype, device=device, curvature=curvature,
            stable_sort=stable_sort, low_rank=low_rank,
        )  # fmt: skip
        return cls(family, generators, config, threads=threads)

    # -- plans ---------------------------------------------------------------------------------
    def prepare(self, x: torch.Tensor, y: torch.Tensor, costs: Any = None) -> Any:
        """Fixed clouds x (S, n, d), y (S, m, d) and their plan-cost gathers (default: built
        here), for :meth:`perturb`, :meth:`step` and :meth:`cost`."""
        return self.family.prepare(x.detach(), y.detach(), costs)

    def orders(self, x: torch.Tensor, y: torch.Tensor, params: torch.Tensor | None = None):
        """The plan of the current parameters (or of ``params`` (S, P)): sigma, tau (S, k),
        ``x[sigma[i]]`` -> ``y[tau[i]]``."""
        models = (self.params if params is None else params).unsqueeze(1)
        sigma, tau = self.family.orders(models, x.detach(), y.detach())
        return sigma[:, 0], tau[:, 0]

    def cost(self, clouds: Any) -> torch.Tensor:
        """Plan cost of the current parameters per seed, (S,) float64."""
        return self.family.plan_costs(self.params.unsqueeze(1), clouds)[:, 0]

    # -- one step ------------------------------------------------------------------------------
    @torch.no_grad()
    def perturb(self, clouds: Any, draws: Any = None) -> Perturbation:
        """Draw N perturbations (or take ``draws``) and evaluate the plan costs (S, N+1) of the
        current parameters and of the perturbed ones."""
        if draws is None:
            draws = next(self.family.draws(self.generators, clouds, self.n_perturbations, 1))
        return self.family.perturb(self.params, draws, clouds)

    def gradient(self, perturbation: Perturbation) -> Any:
        """The family's estimate of the gradient of the smoothed plan cost."""
        return self.family.gradient(self.params, perturbation, self.variance_reduction)

    @torch.no_grad()
    def update(self, perturbation: Perturbation) -> None:
        """One optimiser step with the estimated gradient; with ``keep_best``, first remember
        the cost of the parameters it leaves."""
        self._update(perturbation)

    def _update(self, perturbation: Perturbation) -> None:
        grad = self.family.gradient(self.params, perturbation, self.variance_reduction)
        if self.keep_best:
            self.remember(perturbation.costs[:, 0])
        self.optimizer.step([grad])

    def step(self, clouds: Any) -> torch.Tensor:
        """``perturb`` then ``update``; returns the plan costs (S, N+1), current model first."""
        perturbation = self.perturb(clouds)
        self.update(perturbation)
        return perturbation.costs

    def fit(self, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
        """``steps`` steps on fixed clouds; with ``keep_best``, end on the iterate of lowest
        plan cost among those visited (the last one included).

        Heavy steps (e.g. an MLP in d = 500) run ranges of seeds in parallel threads on views of
        the parameters and of the optimiser's state (``sliceflow._kernels.threads``): the same
        numbers as one thread.
        """
        if steps <= 0:
            return
        x, y = x.detach(), y.detach()
        work = self.family.work(x, y, self.n_perturbations)
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
        clouds = self.family.prepare(x, y)
        self.forget_best()
        for draws in self.family.draws(self.generators, clouds, self.n_perturbations, steps):
            self._update(self.family.perturb(self.params, draws, clouds))
        if self.keep_best and self.best_cost is not None:
            self.remember(self.cost(clouds))
            self.restore_best()
        self.forget_best()
        self.family.end_fit(self.params)

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
