"""The contract of a coupling, and the context the flow-matching task hands it.

A coupling receives ``aggregate`` minibatches of source and target samples at once, for all
seeds, and returns the pairs ``(x0_i, x1_i)`` the CFM regression trains on, in training order
(the task then consumes them ``batch_size`` pairs per iteration):

    x0, x1 = coupling.pair(x0, x1)    # (S, k B, d) each -> (S, P, d) each

Every random draw of seed i comes from ``context.generators[i]``; everything a coupling keeps
(e.g. a learned projection and its optimiser) goes through ``state_dict`` for ``--resume``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from sliceflow.random import rand


class CouplingConfig(BaseModel):
    """Parameters of a coupling; subclasses add their own. Unknown keys are rejected.

    ``sigma``, the one key every coupling has, is the std of the Gaussian path this coupling
    trains on; ``None`` takes the scenario's ``sigma``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sigma: float | None = Field(
        None, ge=0, description="std of this coupling's Gaussian path (default: the scenario's)"
    )


@dataclass
class CouplingContext:
    """What a coupling may know: sizes, dtype, device and the per-seed generators."""

    n_seeds: int  # S
    dim: int  # d
    batch_size: int  # B, samples per training minibatch
    dtype: torch.dtype
    device: torch.device
    generators: list[torch.Generator]


class Coupling:
    """Pairs source and target samples: ``pair(x0, x1)`` on ``aggregate`` minibatches."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[CouplingConfig]] = CouplingConfig
    summary: ClassVar[str] = ""
    reference: ClassVar[str] = ""

    def __init__(self, config: CouplingConfig, context: CouplingContext) -> None:
        self.config, self.context = config, context

    @property
    def aggregate(self) -> int:
        """Minibatches per call of ``pair`` (one plan over all of them)."""
        return int(getattr(self.config, "aggregate", 1))

    def pair(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def skip_start(self) -> None:
        """Behave from now on as after the first ``pair`` (used by speed probes only)."""

    def info(self) -> dict[str, list]:
        """Per-seed counters for scenario.yaml's ``run`` section (e.g. solver failures)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def gather_rows(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``points[s, index[s]]``: (S, n, d), (S, k) -> (S, k, d)."""
    return points.gather(1, index.unsqueeze(-1).expand(-1, -1, points.shape[-1]))


def pairs_from_plans(x0, x1, plans: list[torch.Tensor], generators):
    """As many pairs as source samples, drawn with replacement from each seed's plan (n, m), as
    torchcfm's ``OTPlanSampler.sample_plan``, from the seed's own generator: two (S, n, d)."""
    n, m = x0.shape[1], x1.shape[1]
    rows, cols = [], []
    for plan, generator in zip(plans, generators, strict=True):
        weights = plan.detach().double().cpu().flatten()  # (n * m,)
        draws = torch.multinomial(weights, n, replacement=True, generator=generator)
        rows.append(draws // m)
        cols.append(draws % m)
    rows_t, cols_t = torch.stack(rows).to(x0.device), torch.stack(cols).to(x0.device)  # (S, n)
    return gather_rows(x0, rows_t), gather_rows(x1, cols_t)


def sorted_pairs(x0, x1, sigma, tau) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs ``(x0[sigma_i], x1[tau_i])`` of a permutation plan in the plan's own order.

    For a sliced plan this is the order along the projection, so consecutive training
    minibatches are contiguous slices of the projection-sorted pairs (the DGSWP authors'
    ``DGSWPSampler``). sigma, tau (S, n) -> two (S, n, d); no random draw.
    """
    return gather_rows(x0, sigma), gather_rows(x1, tau)


def shuffled_pairs(x0, x1, sigma, tau, generators) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs ``(x0[sigma_i], x1[tau_i])`` of a permutation plan in a random order per seed.

    Shuffled so that each training minibatch is a uniform draw of the plan's pairs, not a run
    of neighbours along the projection. sigma, tau (S, n) -> two (S, n, d).
    """
    S, n = sigma.shape
    # argsort of uniforms: a uniformly random permutation per seed from its own generator
    keys = rand(generators, (n,), dtype=torch.float64, device=sigma.device)  # (S, n)
    order = keys.argsort(dim=-1)
    return gather_rows(x0, sigma.gather(1, order)), gather_rows(x1, tau.gather(1, order))
