"""DGSWP plans (the DGSWP paper's Sec. 5.1): a learned projection, one solver step per step."""

from __future__ import annotations

from typing import Any

import torch

from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver, Perturbation
from sliceflow.tasks.plan.methods import register_plan
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod

# The paper's Figs. 1 and 3: a 2-64-16-1 ReLU MLP, N = 20, plain SGD at 0.2.
PLAN_DEFAULTS = {
    "projection": "mlp", "hidden": [64, 16], "n_perturbations": 20, "optimizer": "sgd",
    "inner_lr": 0.2,
}  # fmt: skip
# Ties of model values broken by index; the perturbed models always evaluated explicitly.
SOLVER_OPTIONS = {"stable_sort": True, "low_rank": False}
DGSWPPlanConfig = DGSWPConfig.with_defaults(
    "DGSWPPlanConfig", PLAN_DEFAULTS, module=__name__, bases=(PlanConfig,),
    projections=("linear", "mlp"),
    doc="DGSWP as a plan method: the solver's keys with the paper's Sec. 5.1 defaults.",
)  # fmt: skip


@register_plan("dgswp")
class DGSWPPlan(PlanMethod):
    """The plan of a learned projection, improved by one solver step per step.

    .. math:: \\phi \\leftarrow \\phi - \\eta\\, \\frac1N \\sum_{k=1}^N
              \\frac{h(\\phi + \\epsilon Z_k) - h(\\phi)}{\\epsilon} Z_k

    (``sliceflow.ot.sliced.DGSWPSolver``; without ``variance_reduction`` the ``h(phi)`` term is
    dropped). Seeds are initialisations of phi. With ``keep_best`` the held plan is that of the
    best iterate so far (the paper's roll-back), and the last step rolls phi back to it.
    """

    Config = DGSWPPlanConfig
    summary = "DGSWP, plan of a learned (linear or MLP) projection, Stein-smoothed descent"
    reference = (
        "Differentiable generalized sliced Wasserstein plans (2025), github.com/rtavenar/dgswp"
    )

    def __init__(self, config: DGSWPConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x = context.x
        self.solver = DGSWPSolver.from_config(
            config, x.shape[-1], context.generators, dtype=x.dtype, device=x.device,
            **SOLVER_OPTIONS,
        )  # fmt: skip
        self.clouds = self.solver.prepare(x, context.y, context.costs)
        # This step's evaluation, drawn when first needed and used by advance(); never saved:
        # state_dict() is taken before it is drawn, so a resume draws the same perturbations.
        self.pending: Perturbation | None = None
        self.current: torch.Tensor | None = None  # cost of phi at this step (no draws)

    def _current_cost(self) -> torch.Tensor:
        if self.pending is not None:
            return self.pending.costs[:, 0]
        if self.current is None:
            self.current = self.solver.cost(self.clouds)
        return self.current

    def _best_held(self) -> torch.Tensor | None:
        """(S,) True where the held plan is the best earlier iterate's (ties: the earlier)."""
        if not self.config.keep_best or self.solver.best_cost is None:
            return None
        return self.solver.best_cost <= self._current_cost()

    def orders(self):
        solver, best = self.solver, self._best_held()
        params = solver.params if best is None else torch.where(
            best[:, None], solver.best_params, solver.params
        )  # fmt: skip
        return solver.orders(self.context.x, self.context.y, params)

    def cost(self, last: bool) -> torch.Tensor:
        if not last and self.pending is None:
            self.pending = self.solver.perturb(self.clouds)
        cost = self._current_cost()
        best = self._best_held()
        return cost if best is None else torch.where(best, self.solver.best_cost, cost)

    @torch.no_grad()
    def advance(self, last: bool) -> None:
        solver = self.solver
        if last:
            if self.config.keep_best:  # roll back to the best iterate, this one included
                solver.remember(self._current_cost())
                solver.restore_best()
        else:
            solver.update(self.pending or solver.perturb(self.clouds))  # remembers phi's cost
        self.pending = self.current = None

    def state_dict(self) -> dict[str, Any]:
        return self.solver.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.solver.load_state_dict(state)
        self.pending = self.current = None
