"""DGSWP plans (the DGSWP paper's Sec. 5.1): a learned projection, one Stein step per step."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, field_validator

from sliceflow.ot.sliced._dgswp import DGSWPSolver, Perturbation
from sliceflow.tasks.plan.methods import register_plan
from sliceflow.tasks.plan.methods.base import PlanConfig, PlanContext, PlanMethod


class DGSWPPlanConfig(PlanConfig):
    projection: Literal["linear", "mlp"] = Field("mlp", description="projection model m_phi")
    hidden: list[int] = Field([64, 16], min_length=1, description="hidden widths of the mlp")
    eps: float = Field(0.05, gt=0, description="Gaussian smoothing scale of the parameters")
    n_perturbations: int = Field(20, gt=0, description="Stein samples N per step")
    variance_reduction: bool = Field(True, description="subtract h(phi) (the paper's Eq. 8)")
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.2, gt=0, description="learning rate of phi")
    keep_best: bool = Field(False, description="hold the plan of the best iteration so far")

    @field_validator("hidden", mode="before")
    @classmethod
    def _one_width(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("hidden")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(h <= 0 for h in value):
            raise ValueError("hidden widths must be positive integers, e.g. [64, 16]")
        return value


@register_plan("dgswp")
class DGSWPPlan(PlanMethod):
    """The plan of a learned projection, improved by one Stein-smoothed step per step.

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

    def __init__(self, config: DGSWPPlanConfig, context: PlanContext) -> None:
        super().__init__(config, context)
        x = context.x
        self.solver = DGSWPSolver(
            config.projection, config.hidden, x.shape[-1], context.generators,
            dtype=x.dtype, device=x.device, eps=config.eps,
            n_perturbations=config.n_perturbations,
            variance_reduction=config.variance_reduction, optimizer=config.optimizer,
            lr=config.lr, keep_best=config.keep_best, stable_sort=True,
        )  # fmt: skip
        # This step's evaluation, drawn when first needed and used by advance(); never saved:
        # state_dict() is taken before it is drawn, so a resume draws the same perturbations.
        self.pending: Perturbation | None = None
        self.current: torch.Tensor | None = None  # cost of phi at this step (no draws)

    def _current_cost(self) -> torch.Tensor:
        if self.pending is not None:
            return self.pending.costs[:, 0]
        if self.current is None:
            ctx = self.context
            self.current = self.solver.cost(ctx.x, ctx.y, ctx.costs)
        return self.current

    def _best_held(self) -> torch.Tensor | None:
        """(S,) True where the held plan is the best earlier iterate's (ties: the earlier)."""
        if not self.config.keep_best or self.solver.best_cost is None:
            return None
        return self.solver.best_cost <= self._current_cost()

    def orders(self):
        ctx, solver = self.context, self.solver
        best = self._best_held()
        params = solver.params if best is None else torch.where(
            best[:, None], solver.best_params, solver.params
        )  # fmt: skip
        sigma, tau = solver.orders_of(params.unsqueeze(1), ctx.x, ctx.y)
        return sigma[:, 0], tau[:, 0]

    def cost(self, last: bool) -> torch.Tensor:
        if not last and self.pending is None:
            ctx = self.context
            self.pending = self.solver.perturb(ctx.x, ctx.y, ctx.costs)
        cost = self._current_cost()
        best = self._best_held()
        return cost if best is None else torch.where(best, self.solver.best_cost, cost)

    @torch.no_grad()
    def advance(self, last: bool) -> None:
        ctx, solver = self.context, self.solver
        if last:
            if self.config.keep_best:  # roll back to the best iterate, this one included
                solver.remember(self._current_cost())
                solver.restore_best()
        else:
            pending = self.pending or solver.perturb(ctx.x, ctx.y, ctx.costs)
            solver.update(pending)  # remembers phi's cost first when keep_best
        self.pending = self.current = None

    def state_dict(self) -> dict[str, Any]:
        return self.solver.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.solver.load_state_dict(state)
        self.pending = self.current = None
