"""min-SWGG (Mahey et al. 2023) by random search: the cheapest of L monotone plans.

A slice ``l`` (a direction, an ideal point of the ball, any scalar map ``project``) orders both
clouds; matching them in that order is a transport plan, of cost

.. math:: h_l = \\frac1k \\sum_i c\\big(x_{\\sigma_l(i)}, y_{\\tau_l(i)}\\big), \\qquad
          \\text{min-SWGG} = \\min_{l \\le L} h_l \\ge W_c

:func:`min_swgg_plan` returns the cheapest plan for any projection and any :class:`PlanCost`.
The size rule (``is_large``) picks the batched search or the chunked one, and the cost says how
plans are priced in each. One direction optimised instead: :mod:`sliceflow.ot.sliced._swgg`.

References
----------
Mahey, Chapel, Gasso, Bonet, Courty (2023), Fast optimal transport through sliced generalized
Wasserstein geodesics, NeurIPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from pydantic import Field

from sliceflow._kernels.chunked import Project, linear_projection, quantile_levels
from sliceflow._kernels.policy import directions_per_chunk, is_large
from sliceflow._kernels.sorts import keyed_argsort
from sliceflow.manifolds.poincare.math import matched_sq_geodesic, squared_geodesic_cost
from sliceflow.ot._config import SolverConfig
from sliceflow.ot.sliced._plans import PlanCosts, plan_costs
from sliceflow.ot.sliced._slicing import matched_indices


class MinSWGGConfig(SolverConfig):
    """Settings of min-SWGG by random search (:func:`min_swgg_plan` over fresh slices)."""

    n_projections: int = Field(20, gt=0, description="slices L searched for the cheapest plan")


# -- plan costs ------------------------------------------------------------------------------------
Prepared = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (S, K, k) x 2 -> (S, K)


@dataclass(frozen=True)
class PlanCost:
    """The cost of permutation plans of fixed clouds, in the two forms the size rule picks from.

    ``prepare(x, y)``: x (S, n, d), y (S, m, d) -> a function of orderings sigma, tau (S, K, k)
    giving the costs (S, K) (small clouds: it may build an n x m matrix once). ``matched(x, y,
    sigma, tau)``: one seed, x (n, d), y (m, d), orderings (c, k) -> (c,), from the matched
    points only (large clouds, bounded memory).
    """

    prepare: Callable[[torch.Tensor, torch.Tensor], Prepared]
    matched: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

    def prepared(self, costs: Prepared) -> PlanCost:
        """This cost with its small-cloud form already built on the clouds (a shared PlanCosts)."""
        return replace(self, prepare=lambda x, y: costs)


def squared_euclidean_plan_costs(x, y, sigma, tau) -> torch.Tensor:
    """``mean_i |x[sigma_i] - y[tau_i]|^2`` for each row: x (n, d), y (n, d), sigma/tau (c, n)
    -> (c,) float64."""
    gap = (x[sigma] - y[tau]).double()  # (c, n, d)
    return gap.square().sum(-1).mean(-1)


def _plan_by_plan(x, y, sigma, tau) -> torch.Tensor:
    """``mean_i |x_sigma_l(i) - y_tau_l(i)|^2`` (S, K) in the clouds' dtype, one plan at a time
    (memory S k d, not S K k d): x (S, n, d), y (S, m, d), sigma/tau (S, K, k)."""
    d = x.shape[-1]

    def matched(z, order):  # (S, k, d)
        return z.gather(1, order.unsqueeze(-1).expand(-1, -1, d))

    costs = [(matched(x, sigma[:, j]) - matched(y, tau[:, j])).square().sum(-1).mean(-1)
             for j in range(sigma.shape[1])]  # fmt: skip
    return torch.stack(costs, dim=1)


SQUARED_EUCLIDEAN = PlanCost(PlanCosts, squared_euclidean_plan_costs)
"""Squared Euclidean cost in float64: from the Gram matrix (small), matched gaps (large)."""

SQUARED_EUCLIDEAN_PLAN_BY_PLAN = PlanCost(
    prepare=lambda x, y: lambda sigma, tau: _plan_by_plan(x, y, sigma, tau),
    matched=lambda x, y, sigma, tau: _plan_by_plan(x[None], y[None], sigma[None], tau[None])[0],
)
"""Squared Euclidean cost in the clouds' dtype, one plan at a time at every size."""


def squared_geodesic_plan_cost(c: float = 1.0) -> PlanCost:
    """Squared geodesic cost on the Poincaré ball of curvature -c: gathers from the cost matrix
    ``d(x_i, y_j)^2`` (small), the matched pairs' distances (large)."""

    def matched(x, y, sigma, tau):
        count = sigma.shape[0]
        return matched_sq_geodesic(x.expand(count, -1, -1), y.expand(count, -1, -1), sigma, tau, c)

    return PlanCost(lambda x, y: lambda s, t: plan_costs(squared_geodesic_cost(x, y, c), s, t),
                    matched)  # fmt: skip


# -- the cheapest of L monotone plans --------------------------------------------------------------
def min_swgg_plan(
    x: torch.Tensor,
    y: torch.Tensor,
    slices: torch.Tensor,
    project: Project = linear_projection,
    cost: PlanCost = SQUARED_EUCLIDEAN,
    *,
    with_costs: bool = False,
    reproject: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Per seed, the cheapest of the monotone plans of the slices (min-SWGG, random search).

    .. math:: l^\\star = \\operatorname{argmin}_{l \\le L} \\frac1k \\sum_i
              c\\big(x_{\\sigma_l(i)}, y_{\\tau_l(i)}\\big), \\quad \\sigma_l, \\tau_l =
              \\operatorname{argsort} t_l(x), \\operatorname{argsort} t_l(y)

    at ``k = max(n, m)`` quantile levels (equal sizes: permutation plans; POT's
    ``ot.min_sliced_transport_plan`` for linear slices). The first slice of least cost wins, as
    ``argmin``. Clouds below the size rule's threshold sort all slices at once; larger ones are
    searched a chunk of slices at a time, seed by seed, with ``cost.matched`` (bounded memory).
    No gradient flows: the plan is a constant of the loss built on it.

    Parameters
    ----------
    x, y : (S, n, d), (S, m, d) clouds.
    slices : (S, L, d) directions (or ideal points, or any slice parameters of ``project``).
    project : (S, n, d), (S, c, d) -> (S, c, n) slice values (default ``theta x^T``).
    cost : how plans are priced (:data:`SQUARED_EUCLIDEAN` by default).
    with_costs : also return the winners' costs (S,).
    reproject : take the winner's orderings from its slice projected alone (as
        :func:`swgg_orders` of one direction) rather than from the batch of L: the two
        products may round differently, so near-ties may order differently. Batched path only.

    Returns
    -------
    sigma, tau : (S, k) int64, ``x[sigma[i]]`` is sent to ``y[tau[i]]``; then, if
    ``with_costs``, the winners' costs (S,) float64 as ``cost`` computed them.
    """
    x, y = x.detach(), y.detach()
    with torch.no_grad():
        if is_large(x.shape[1], y.shape[1]):
            sigma, tau, costs = _chunked_plan(x, y, slices, project, cost)
        else:
            sigma, tau, costs = _batched_plan(x, y, slices, project, cost, reproject)
    return (sigma, tau, costs) if with_costs else (sigma, tau)


def _batched_plan(x, y, slices, project: Project, cost: PlanCost, reproject: bool):
    sigma, tau = matched_indices(project(x, slices), project(y, slices))  # (S, L, k)
    costs = cost.prepare(x, y)(sigma, tau)  # (S, L)
    best = costs.argmin(dim=1)  # (S,)
    rows = torch.arange(x.shape[0], device=x.device)
    if reproject:
        winner = slices[rows, best].unsqueeze(1)  # (S, 1, d)
        alone = matched_indices(project(x, winner), project(y, winner))
        return alone[0][:, 0], alone[1][:, 0], costs[rows, best].double()
    return sigma[rows, best], tau[rows, best], costs[rows, best].double()


def _chunked_plan(x, y, slices, project: Project, cost: PlanCost):
    S, n, _ = x.shape
    m, L = y.shape[1], slices.shape[1]
    k, chunk = max(n, m), directions_per_chunk(n, m, L)
    levels = [None if size == k else quantile_levels(size, k, x.device) for size in (n, m)]
    sigma = torch.empty(S, k, dtype=torch.long, device=x.device)
    tau = torch.empty_like(sigma)
    lowest = torch.empty(S, dtype=torch.float64)
    for s in range(S):
        best = float("inf")
        for start in range(0, L, chunk):
            sl = slices[s : s + 1, start : start + chunk]
            orders = [keyed_argsort(project(z[s : s + 1], sl)[0]).to(x.device) for z in (x, y)]
            order_x, order_y = (
                o if i is None else o[:, i] for o, i in zip(orders, levels, strict=True)
            )
            costs = cost.matched(x[s], y[s], order_x, order_y)  # (c,)
            low = int(costs.argmin())
            if float(costs[low]) < best:
                best = float(costs[low])
                sigma[s], tau[s] = order_x[low], order_y[low]
        lowest[s] = best
    return sigma, tau, lowest.to(x.device)
