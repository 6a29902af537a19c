"""The contract of a plan method, and the context the plan task hands it.

A plan method holds, for every seed, a permutation plan between fixed clouds ``x`` and ``y``
(S, n, d): ``x[sigma[i]]`` is sent to ``y[tau[i]]``. The plan task asks it, at every step::

    if snapshot step: method.targets()           # the plan it holds now (target of each point)
    if traced: method.cost(last)                 # that plan's cost (S,), float64
    method.advance(last)                         # one iteration (finishing touches at the last)

Everything it keeps must survive ``state_dict`` / ``load_state_dict`` (``--resume``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from sliceflow.ot.sliced._plans import PlanCosts


class PlanConfig(BaseModel):
    """Parameters of a plan method; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class PlanContext:
    """What a plan method may know: the clouds, their plan costs, the per-seed generators.

    ``exact()`` gives the optimal permutations (S, n) (``perm[i]`` = target of source i) and the
    exact W2^2 (S,), solved once per run and shared.
    """

    x: torch.Tensor  # (S, n, d)
    y: torch.Tensor  # (S, n, d)
    costs: PlanCosts
    generators: list[torch.Generator]
    exact: Callable[[], tuple[np.ndarray, np.ndarray]]


class PlanMethod:
    """Base class of plan methods: ``Config``, ``orders``, ``cost``, optional ``advance``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[PlanConfig]] = PlanConfig
    summary: ClassVar[str] = ""
    reference: ClassVar[str] = ""

    def __init__(self, config: PlanConfig, context: PlanContext) -> None:
        self.config, self.context = config, context

    def orders(self) -> tuple[torch.Tensor, torch.Tensor]:
        """sigma, tau (S, n) of the plan held now."""
        raise NotImplementedError

    def cost(self, last: bool) -> torch.Tensor:
        """Cost (S,) float64 of the plan held now (``last``: no step follows)."""
        sigma, tau = self.orders()
        return self.context.costs(sigma.unsqueeze(1), tau.unsqueeze(1))[:, 0]

    def targets(self) -> torch.Tensor:
        """The target of each source point under the plan held now, (S, n) (the snapshot)."""
        return permutation(*self.orders())

    def advance(self, last: bool) -> None:
        """One iteration (default: a fixed plan, nothing to do)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state but got {sorted(state)}")


def permutation(sigma: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """``perm`` with ``perm[sigma[i]] = tau[i]``: the target of each source point, (S, n)."""
    return torch.empty_like(tau).scatter_(1, sigma, tau)
