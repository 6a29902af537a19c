"""Sliced optimal transport on batches of seeds: projections and sorts, sliced Wasserstein,
permutation plans induced by 1-D orderings (min-SWGG and its smoothed surrogate), scalar
projection models and the DGSWP solver.

Every function works on a leading seed axis ``S`` and draws only from the ``torch.Generator``
of each seed it is given. The modules are private; the names below are the family's API.
"""

from __future__ import annotations

from sliceflow.ot.sliced._dgswp import DGSWPSolver, Perturbation
from sliceflow.ot.sliced._dgswp_ball import BusemannProjections
from sliceflow.ot.sliced._dgswp_ball_gaussian import GaussianBusemannProjections
from sliceflow.ot.sliced._dgswp_config import DGSWPConfig
from sliceflow.ot.sliced._dgswp_families import EuclideanProjections, ProjectionFamily
from sliceflow.ot.sliced._min_swgg import (
    SQUARED_EUCLIDEAN,
    SQUARED_EUCLIDEAN_PLAN_BY_PLAN,
    MinSWGGConfig,
    PlanCost,
    min_swgg_plan,
    squared_euclidean_plan_costs,
    squared_geodesic_plan_cost,
)
from sliceflow.ot.sliced._plans import (
    PlanCosts,
    check_equal_sizes,
    matched_targets,
    plan_cost,
    plan_costs,
)
from sliceflow.ot.sliced._projections import (
    PROJECTIONS,
    LowRankMLPSmoothing,
    evaluate,
    init_parameters,
    parameter_count,
    stein_gradient,
    stein_weights,
    widths_of,
)
from sliceflow.ot.sliced._slicing import (
    argsort_rows,
    matched_indices,
    project,
    quantile_order,
    quantiles_1d,
    sliced_w2_projected,
    sliced_wasserstein2,
    sort_rows,
    sort_samples,
    sorted_diff,
    stable_argsort_rows,
    wasserstein2_1d,
)
from sliceflow.ot.sliced._swgg import (
    SWGGOptConfig,
    SWGGOptimizer,
    smoothed_swgg_grad,
    swgg_cost,
    swgg_orders,
)

__all__ = [
    "BusemannProjections",
    "DGSWPConfig",
    "DGSWPSolver",
    "EuclideanProjections",
    "GaussianBusemannProjections",
    "LowRankMLPSmoothing",
    "MinSWGGConfig",
    "PROJECTIONS",
    "Perturbation",
    "PlanCost",
    "PlanCosts",
    "ProjectionFamily",
    "SQUARED_EUCLIDEAN",
    "SQUARED_EUCLIDEAN_PLAN_BY_PLAN",
    "SWGGOptConfig",
    "SWGGOptimizer",
    "argsort_rows",
    "check_equal_sizes",
    "evaluate",
    "init_parameters",
    "matched_indices",
    "matched_targets",
    "min_swgg_plan",
    "parameter_count",
    "plan_cost",
    "plan_costs",
    "project",
    "quantile_order",
    "quantiles_1d",
    "sliced_w2_projected",
    "sliced_wasserstein2",
    "smoothed_swgg_grad",
    "sort_rows",
    "sort_samples",
    "sorted_diff",
    "squared_euclidean_plan_costs",
    "squared_geodesic_plan_cost",
    "stable_argsort_rows",
    "stein_gradient",
    "stein_weights",
    "swgg_cost",
    "swgg_orders",
    "wasserstein2_1d",
    "widths_of",
]
