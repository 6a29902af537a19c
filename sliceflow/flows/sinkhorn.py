"""Sinkhorn: particles descend the (debiased) Sinkhorn divergence to the target samples
(Cuturi 2013; Feydy et al. 2019), with the solvers and gradients of
:mod:`sliceflow.ot.entropic`."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from sliceflow.flows import register
from sliceflow.flows.base import Flow, FlowConfig, FlowContext
from sliceflow.ot.entropic._sinkhorn import sinkhorn_divergence

UNCONVERGED = "sinkhorn_unconverged"  # the counter's name in scenario.yaml's run section


class SinkhornConfig(FlowConfig):
    reg: float | None = Field(
        None, gt=0, description="entropic regularisation for the cost |x - y|^2 (or give blur)"
    )
    blur: float | None = Field(
        None,
        gt=0,
        description="GeomLoss's blur (a length): its problem, cost |x - y|^2 / 2 with eps = "
        "blur^2, is ours with reg = 2 blur^2 (or give reg)",
    )
    debias: bool = Field(True, description="false: plain entropic OT(x, y), biased")
    # not "method": a scenario's methods entries use that key for the flow's name
    solver: Literal["log", "vanilla"] = Field(
        "log", description="Sinkhorn iterations in the log domain (stable) or vanilla scalings"
    )
    gradient: Literal["envelope", "unrolled", "autograd"] = "envelope"
    scaling: float | None = Field(
        0.5, gt=0, lt=1, description="epsilon-scaling factor (log only); null: none"
    )
    max_iter: int = Field(1000, ge=1, description="Sinkhorn iterations per problem at most")
    tol: float = Field(1e-6, ge=0, description="stop when ||P 1 - a||_2 < tol")

    @model_validator(mode="after")
    def _one_regularisation(self) -> SinkhornConfig:
        if (self.reg is None) == (self.blur is None):
            raise ValueError(
                "give exactly one of reg and blur (reg = 2 blur^2 for the cost |x - y|^2), "
                "e.g. blur: 0.05"
            )
        if not math.isfinite(self.regularisation):
            raise ValueError("reg (or blur) must be a finite positive number, e.g. blur: 0.05")
        if self.scaling is not None and self.solver != "log":
            raise ValueError("scaling (epsilon-scaling) needs solver: log; or set scaling: null")
        return self

    @property
    def regularisation(self) -> float:
        """``reg`` for the cost ``|x - y|^2`` (squared geodesic distance on the ball)."""
        return float(self.reg) if self.reg is not None else 2.0 * float(self.blur) ** 2


@register("sinkhorn")
class Sinkhorn(Flow):
    """Sinkhorn divergence with the squared distance of the manifold as cost, uniform weights.

    .. math:: S_{reg}(x, y) = OT_{reg}(x, y) - \\tfrac12 OT_{reg}(x, x) - \\tfrac12 OT_{reg}(y, y),
              \\quad OT_{reg} = \\min_P \\langle P, C\\rangle + reg\\, KL(P \\,|\\, a b^\\top)

    ``C_ij = |x_i - y_j|^2`` (squared geodesic distance on the ball), ``a = 1/n``, ``b = 1/m``:
    the loss is on the scale of the trace's W2^2 (a mean over particles; ``S_reg -> W2^2`` as
    ``reg -> 0``) and equals twice GeomLoss's ``SamplesLoss("sinkhorn", p=2, blur)`` for
    ``reg = 2 blur^2``. ``debias: false`` descends ``OT_reg(x, y)`` alone, whose minimiser is
    shrunk toward the target's centre. Envelope gradient (default) in ``x_i``:
    ``sum_j P^{xy}_ij grad C(x_i, y_j) - sum_k P^{xx}_ik grad C(x_i, x_k)``, which is
    ``(2/n) (T_xx(x_i) - T_xy(x_i))`` in Euclidean space (barycentric projections).

    Each seed's problems that stop at ``max_iter`` without meeting ``tol`` are counted per seed
    (``run.sinkhorn_unconverged`` in scenario.yaml), never hidden; so are vanilla solves that
    cannot converge because ``exp(-C / reg)`` underflowed to a support without a plan (the
    maths API raises there; ``solver: log`` is the fix).
    """

    Config = SinkhornConfig
    manifolds = frozenset({"euclidean", "poincare"})
    summary = "Sinkhorn divergence (debiased or not) with the squared distance as cost"
    reference = (
        "Cuturi (2013), Sinkhorn distances; Feydy, Séjourné, Vialard, Amari, Trouvé, Peyré "
        "(2019), Interpolating between optimal transport and MMD using Sinkhorn divergences"
    )

    def __init__(self, config: SinkhornConfig, context: FlowContext) -> None:
        super().__init__(config, context)
        manifold = context.manifold
        # None: sliceflow.ot's squared Euclidean cost (expanded form, a small autograd graph)
        self.cost = None if manifold.name == "euclidean" else manifold.cost_matrix
        self.unconverged = np.zeros(context.n_seeds, dtype=np.int64)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        result = sinkhorn_divergence(
            x, y, cfg.regularisation, cost=self.cost, scaling=cfg.scaling, method=cfg.solver,
            gradient=cfg.gradient, max_iter=cfg.max_iter, tol=cfg.tol, debias=cfg.debias,
            underflow="flag",
        )  # fmt: skip
        self.unconverged += (~result.converged).cpu().numpy()
        return result.value

    def counters(self) -> dict[str, np.ndarray]:
        return {UNCONVERGED: self.unconverged.copy()}

    def state_dict(self) -> dict[str, Any]:
        return {"unconverged": self.unconverged.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.unconverged = np.asarray(state["unconverged"], dtype=np.int64).copy()
