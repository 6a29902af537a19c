"""The maths of sliceflow, public and method-agnostic: slicing and sorts, permutation plans, exact
Wasserstein distances, Sinkhorn (hand-derived gradients), entropic barycentres, hyperbolic
geometry and projections, Gaussian closed forms, batched projection models, per-seed draws.

Every function works on batches of independent problems (a leading seed axis ``S``) and draws
random numbers only from the ``torch.Generator`` of each seed it is given.
"""

from __future__ import annotations

from sliceflow.ot.barycenter import BarycenterResult, barycenter
from sliceflow.ot.draws import rand, randn, random_directions
from sliceflow.ot.exact import exact_w2sq, exact_w2sq_batch
from sliceflow.ot.gaussian import (
    BuresBarycenterResult,
    bures_barycenter,
    bures_w2sq,
    fit_gaussian,
    ou_law,
)
from sliceflow.ot.hyperbolic import (
    busemann,
    geodesic_coordinate,
    geodesic_distance,
    lorentz_to_poincare,
    poincare_to_lorentz,
    squared_geodesic_cost,
)
from sliceflow.ot.plans import PlanCosts, plan_cost, plan_costs
from sliceflow.ot.sinkhorn import (
    SinkhornDivergenceResult,
    SinkhornResult,
    sinkhorn,
    sinkhorn_divergence,
    squared_euclidean_cost,
)
from sliceflow.ot.slicing import (
    argsort_rows,
    sliced_wasserstein2,
    sort_samples,
    sorted_diff,
    wasserstein2_1d,
)

__all__ = [
    "BarycenterResult",
    "BuresBarycenterResult",
    "PlanCosts",
    "SinkhornDivergenceResult",
    "SinkhornResult",
    "argsort_rows",
    "barycenter",
    "bures_barycenter",
    "bures_w2sq",
    "busemann",
    "exact_w2sq",
    "exact_w2sq_batch",
    "fit_gaussian",
    "geodesic_coordinate",
    "geodesic_distance",
    "lorentz_to_poincare",
    "ou_law",
    "plan_cost",
    "plan_costs",
    "poincare_to_lorentz",
    "rand",
    "randn",
    "random_directions",
    "sinkhorn",
    "sinkhorn_divergence",
    "sliced_wasserstein2",
    "sort_samples",
    "sorted_diff",
    "squared_euclidean_cost",
    "squared_geodesic_cost",
    "wasserstein2_1d",
]
