"""The maths of sliceflow, public and method-agnostic, in families as POT groups them:

- :mod:`sliceflow.ot.sliced`: projections and sorts, sliced Wasserstein, permutation plans of 1-D
  orderings (min-SWGG), projection models and the DGSWP solver;
- :mod:`sliceflow.ot.entropic`: Sinkhorn, the Sinkhorn divergence, entropic barycentres;
- :mod:`sliceflow.ot.exact`: exact Wasserstein distances (POT and scipy);
- :mod:`sliceflow.ot.gaussian`: Gaussian closed forms (Ornstein–Uhlenbeck laws, Bures);
- :mod:`sliceflow.ot.policy`: the size policy (chunked path, seed threads, torch threads), one
  table of thresholds; it only answers, and the engine sets the thread count of a run.

Every function works on batches of independent problems (a leading seed axis ``S``) and draws
random numbers only from the ``torch.Generator`` of each seed it is given (``sliceflow.random``).
Geometry (geodesic distances, Busemann functions, model conversions) lives with its manifold, e.g.
:mod:`sliceflow.manifolds.poincare.math`.
"""

from __future__ import annotations

from sliceflow.ot.entropic import (
    BarycenterResult,
    SinkhornDivergenceResult,
    SinkhornResult,
    barycenter,
    sinkhorn,
    sinkhorn_divergence,
    squared_euclidean_cost,
)
from sliceflow.ot.exact import exact_w2sq, exact_w2sq_batch
from sliceflow.ot.gaussian import (
    BuresBarycenterResult,
    bures_barycenter,
    bures_w2sq,
    fit_gaussian,
    ou_law,
)
from sliceflow.ot.sliced import (
    DGSWPSolver,
    PlanCosts,
    argsort_rows,
    plan_cost,
    plan_costs,
    sliced_wasserstein2,
    sort_samples,
    sorted_diff,
    wasserstein2_1d,
)

__all__ = [
    "BarycenterResult",
    "BuresBarycenterResult",
    "DGSWPSolver",
    "PlanCosts",
    "SinkhornDivergenceResult",
    "SinkhornResult",
    "argsort_rows",
    "barycenter",
    "bures_barycenter",
    "bures_w2sq",
    "exact_w2sq",
    "exact_w2sq_batch",
    "fit_gaussian",
    "ou_law",
    "plan_cost",
    "plan_costs",
    "sinkhorn",
    "sinkhorn_divergence",
    "sliced_wasserstein2",
    "sort_samples",
    "sorted_diff",
    "squared_euclidean_cost",
    "wasserstein2_1d",
]
