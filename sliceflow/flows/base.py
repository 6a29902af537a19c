"""The contract every flow implements, and the context the engine hands it.

A flow is a small class: a pydantic ``Config`` of its parameters, ``loss(x, y)`` returning a
differentiable value **per seed** (shape ``(S,)``), and optional hooks. The engine never knows a
method by name: it asks the flow for a loss, differentiates ``loss.sum()`` (seeds are independent,
so each seed receives the gradient of its own loss) and asks the manifold for the step.

Hooks, in the order the engine calls them at every flow step::

    flow.inner_update(x.detach(), y)   # learned projections: inner loop on detached copies
    loss = flow.loss(x, y)             # (S,), differentiable in x
    x <- manifold.step(x, grad_x loss.sum(), lr)

A flow with ``implicit = True`` (JKO-style schemes) instead returns the new particles from
``implicit_step(x, y)``; the engine still calls ``loss`` (without gradient) for the trace.
``counters()`` reports per-seed event counts (e.g. solves that did not converge) to the run's
``scenario.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field


class FlowConfig(BaseModel):
    """Parameters shared by every flow. Subclasses add their own; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(0.01, gt=0, description="particle step size")


@dataclass
class FlowContext:
    """What a flow may know about the run it belongs to.

    ``generators[i]`` is the private random stream of seed ``i`` (``seeds[i]``): every random draw
    of seed ``i`` must come from it (see ``sliceflow.random``), so that a seed gives the same
    result whether it runs alone or inside a batch.
    """

    n_seeds: int  # S
    n: int  # particles per seed
    m: int  # target samples per seed
    d: int  # ambient dimension of the particles
    dtype: torch.dtype
    device: torch.device
    manifold: Any  # a sliceflow.manifolds.Manifold
    generators: list[torch.Generator]
    seeds: list[int] = field(default_factory=list)


class Flow:
    """Base class of all flows. Subclasses set ``Config``, ``manifolds`` and implement ``loss``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[FlowConfig]] = FlowConfig
    manifolds: ClassVar[frozenset[str]] = frozenset({"euclidean"})
    implicit: ClassVar[bool] = False
    summary: ClassVar[str] = ""  # one line for `sliceflow list`
    reference: ClassVar[str] = ""  # the paper

    def __init__(self, config: FlowConfig, context: FlowContext) -> None:
        self.config = config
        self.context = context

    # -- hooks ---------------------------------------------------------------------------------
    def inner_update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Inner loop on detached ``x`` (S, n, d) and ``y`` (S, m, d); default: nothing."""

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Differentiable loss per seed, shape (S,)."""
        raise NotImplementedError

    def implicit_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """New particles (S, n, d) for implicit schemes (``implicit = True``)."""
        raise NotImplementedError

    def extra_metrics(self, x: torch.Tensor, y: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Optional per-seed diagnostics (name -> (S,) tensor) recorded in ``metrics.csv``."""
        return {}

    def counters(self) -> dict[str, np.ndarray]:
        """Per-seed event counts since the start of the run (name -> (S,) integers), reported in
        scenario.yaml's ``run`` section, e.g. solves that stopped at their iteration limit.
        A flow that counts keeps its counts in ``state_dict``, so that ``--resume`` continues
        them."""
        return {}

    # -- persistence (``--resume``) ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit (learned parameters, optimiser state)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state but got {sorted(state)}")
