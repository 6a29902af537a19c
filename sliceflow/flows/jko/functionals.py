"""Functionals F(rho) minimised by JKO-style flows, evaluated on particles (S, n, d) per seed.

A scenario lists weighted terms; F is their weighted sum::

    functional:
      - {kind: potential, potential: quadratic, A: [[1, 0], [0, 2]], b: [0, 0], weight: 1}
      - {kind: potential, potential: gaussian_mixture, means: [[0, 0], [2, 2]], std: 0.5}
      - {kind: potential, potential: my_registered_name, params: {scale: 2.0}}
      - {kind: interaction, kernel: aggregation}          # or: log
      - {kind: entropy, estimator: kde, bandwidth: 0.1, leave_one_out: true}
      - {kind: sw_target}                                 # 1/2 SW2^2(rho, y)

Unknown keys are rejected. All values are means over particles, so F does not grow with n.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from sliceflow.flows.jko.kernels import (  # the maths; tests and benchmarks import it from here
    interaction_energy,
    interaction_energy_and_grad,
    kde_entropy_and_grad,
    kde_log_density,
    sorted_projections,
    sw2_and_grad,
)
from sliceflow.flows.jko.kernels import pairwise_sqdist as pairwise_sqdist
from sliceflow.flows.jko.kernels import seedwise_matmul as seedwise_matmul
from sliceflow.ot.sliced._slicing import sliced_wasserstein2

PotentialFn = Callable[..., torch.Tensor]  # (x (S, n, d), **params) -> V(x) (S, n)
POTENTIALS: dict[str, PotentialFn] = {}


def register_potential(name: str):
    """Decorator registering a differentiable ``fn(x, **params) -> V(x)``, (S, n, d) -> (S, n)."""

    def decorate(fn: PotentialFn) -> PotentialFn:
        if name in POTENTIALS or name in ("quadratic", "gaussian_mixture"):
            raise RuntimeError(f"potential {name!r} registered twice")
        POTENTIALS[name] = fn
        return fn

    return decorate


class _Term(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(1.0, description="coefficient of this term in F")


class QuadraticPotential(_Term):
    """``V(x) = (x - b)^T A (x - b) / 2`` with A symmetric positive definite."""

    kind: Literal["potential"] = "potential"
    potential: Literal["quadratic"] = "quadratic"
    A: list[list[float]]
    b: list[float]

    @model_validator(mode="after")
    def _check(self) -> QuadraticPotential:
        a = torch.tensor(self.A, dtype=torch.float64)
        if a.ndim != 2 or a.shape != (len(self.b), len(self.b)):
            raise ValueError(f"A must be {len(self.b)}x{len(self.b)} to match b")
        if not torch.allclose(a, a.T) or torch.linalg.eigvalsh(a).min() <= 0:
            raise ValueError("A must be symmetric positive definite")
        return self


class MixturePotential(_Term):
    """``V(x) = -log sum_k w_k N(x; m_k, C_k)`` (C_k = std^2 I unless ``covs`` is given)."""

    kind: Literal["potential"] = "potential"
    potential: Literal["gaussian_mixture"] = "gaussian_mixture"
    means: list[list[float]]
    covs: list[list[list[float]]] | None = None
    std: float = Field(1.0, gt=0)
    weights: list[float] | None = None


class RegisteredPotential(_Term):
    """A Python callable registered with ``register_potential(name)``, given ``params``."""

    kind: Literal["potential"] = "potential"
    potential: str
    params: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> RegisteredPotential:
        if self.potential not in POTENTIALS:
            known = ", ".join(["quadratic", "gaussian_mixture", *sorted(POTENTIALS)])
            raise ValueError(f"unknown potential {self.potential!r}; known: {known}")
        return self


class InteractionTerm(_Term):
    """``1/2 mean_{i != j} W(x_i - x_j)``.

    Kernels: aggregation ``|z|^4/4 - |z|^2/2``; log ``|z|^2/2 - log|z|``.
    """

    kind: Literal["interaction"]
    kernel: Literal["aggregation", "log"]


class EntropyTerm(_Term):
    """``mean_i log rho(x_i)``: KDE on the particles, or the normalising flow's exact density."""

    kind: Literal["entropy"]
    estimator: Literal["auto", "kde", "flow"] = "auto"  # auto: flow if there is one, else kde
    bandwidth: float | Literal["silverman"] = 0.3
    leave_one_out: bool = False  # see kde_log_density: leaving one out lets tail particles escape

    @model_validator(mode="after")
    def _positive(self) -> EntropyTerm:
        if isinstance(self.bandwidth, float) and self.bandwidth <= 0:
            raise ValueError("bandwidth must be > 0 (or 'silverman')")
        return self


class TargetSWTerm(_Term):
    """``1/2 SW2^2(rho, y)`` toward the target samples (directions: the flow's n_projections)."""

    kind: Literal["sw_target"]


def _term_tag(value) -> str | None:
    """The tag of a term given as a dict or a model; None (pydantic: "unable to extract tag")
    for anything else, e.g. a number where a mapping belongs."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        return None
    data = value
    kind = data.get("kind")
    if kind == "potential":
        name = data.get("potential")
        return name if name in ("quadratic", "gaussian_mixture") else "registered"
    return str(kind)


Term = Annotated[
    Annotated[QuadraticPotential, Tag("quadratic")]
    | Annotated[MixturePotential, Tag("gaussian_mixture")]
    | Annotated[RegisteredPotential, Tag("registered")]
    | Annotated[InteractionTerm, Tag("interaction")]
    | Annotated[EntropyTerm, Tag("entropy")]
    | Annotated[TargetSWTerm, Tag("sw_target")],
    Discriminator(_term_tag),
]


class Functional:
    """Weighted sum of terms; ``value(x, y, ...)`` is F per seed (S,), differentiable in ``x``."""

    def __init__(self, terms: list, *, d: int, dtype: torch.dtype, device="cpu") -> None:
        self.terms = list(terms)
        self._tensors: list[dict[str, torch.Tensor]] = []
        for term in self.terms:
            self._tensors.append(self._prepare(term, d, dtype, device))

    @staticmethod
    def _prepare(term, d: int, dtype, device) -> dict[str, torch.Tensor]:
        def tensor(v):
            return torch.tensor(v, dtype=dtype, device=device)

        if isinstance(term, QuadraticPotential):
            if len(term.b) != d:
                raise ValueError(f"quadratic potential has dimension {len(term.b)}, particles {d}")
            return {"A": tensor(term.A), "b": tensor(term.b)}
        if isinstance(term, MixturePotential):
            means = tensor(term.means)  # (K, d)
            k = means.shape[0]
            if means.ndim != 2 or means.shape[1] != d:
                raise ValueError(f"gaussian_mixture means must be (K, {d})")
            covs = tensor(term.covs) if term.covs else term.std**2 * torch.eye(d).expand(k, d, d)
            weights = tensor(term.weights) if term.weights else torch.full((k,), 1.0 / k)
            chol = torch.linalg.cholesky(covs.to(dtype))
            return {"means": means, "chol": chol, "logw": torch.log(weights / weights.sum())}
        return {}

    def uses_target(self) -> bool:
        return any(isinstance(t, TargetSWTerm) for t in self.terms)

    def potential_values(self, term, tensors, x: torch.Tensor) -> torch.Tensor:
        """V(x) per particle, (S, n)."""
        if isinstance(term, QuadraticPotential):
            centred = x - tensors["b"]
            return 0.5 * ((centred @ tensors["A"]) * centred).sum(-1)
        if isinstance(term, MixturePotential):
            centred = x.unsqueeze(2) - tensors["means"]  # (S, n, K, d)
            chol = tensors["chol"]
            white = torch.linalg.solve_triangular(chol, centred.unsqueeze(-1), upper=False)
            half_logdet = chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)
            d = x.shape[-1]
            log_comp = -0.5 * white.squeeze(-1).square().sum(-1) - half_logdet
            log_comp = log_comp - 0.5 * d * math.log(2 * math.pi) + tensors["logw"]
            return -torch.logsumexp(log_comp, dim=-1)
        return POTENTIALS[term.potential](x, **term.params)

    def value_and_grad(
        self, x: torch.Tensor, y: torch.Tensor | None, target_directions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """F(x) per seed (S,) and dF/dx (S, n, d) for particles (KDE entropy).

        KDE entropy, quadratic potentials, interactions and sw_target (equal sizes) in closed
        form (the inner loop's hot path); the other terms through autograd.
        """
        value = x.new_zeros(x.shape[0])
        grad = torch.zeros_like(x)
        rest = []
        for term, tensors in zip(self.terms, self._tensors, strict=True):
            if isinstance(term, EntropyTerm):
                part, part_grad = kde_entropy_and_grad(x, term.bandwidth, term.leave_one_out)
            elif isinstance(term, QuadraticPotential):
                centred = x.detach() - tensors["b"]
                a_centred = centred @ tensors["A"]
                part = 0.5 * (a_centred * centred).sum(-1).mean(dim=1)
                part_grad = a_centred / x.shape[1]
            elif isinstance(term, InteractionTerm):
                part, part_grad = interaction_energy_and_grad(x, term.kernel)
            elif isinstance(term, TargetSWTerm) and y is not None and y.shape[1] == x.shape[1]:
                if target_directions is None:
                    raise ValueError("sw_target term needs directions")
                reference = sorted_projections(y, target_directions)
                part, part_grad = sw2_and_grad(x, reference, target_directions)
                part, part_grad = 0.5 * part, 0.5 * part_grad
            else:
                rest.append((term, tensors))
                continue
            value = value + term.weight * part
            grad = grad + term.weight * part_grad
        if rest:
            leaf = x.detach().requires_grad_(True)
            part = leaf.new_zeros(x.shape[0])
            for term, tensors in rest:
                part = part + term.weight * self._term(
                    term, tensors, leaf, y, None, target_directions
                )
            (part_grad,) = torch.autograd.grad(part.sum(), leaf)
            value, grad = value + part.detach(), grad + part_grad
        return value, grad

    def value(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        log_density: torch.Tensor | None = None,
        target_directions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """F(x) per seed (S,). ``log_density`` (S, n): exact log rho(x) of a normalising flow;
        ``target_directions`` (S, L, d): directions for an ``sw_target`` term."""
        total = x.new_zeros(x.shape[0])
        for term, tensors in zip(self.terms, self._tensors, strict=True):
            if term.weight != 0:
                part = self._term(term, tensors, x, y, log_density, target_directions)
                total = total + term.weight * part
        return total

    def _term(self, term, tensors, x, y, log_density, target_directions) -> torch.Tensor:
        """One unweighted term per seed (S,)."""
        if isinstance(term, InteractionTerm):
            return interaction_energy(x, term.kernel)
        if isinstance(term, EntropyTerm):
            return self._entropy(term, x, log_density).mean(dim=1)
        if isinstance(term, TargetSWTerm):
            if y is None or target_directions is None:
                raise ValueError("sw_target term needs target samples and directions")
            return 0.5 * sliced_wasserstein2(x, y, target_directions)
        return self.potential_values(term, tensors, x).mean(dim=1)

    @staticmethod
    def _entropy(term: EntropyTerm, x: torch.Tensor, log_density) -> torch.Tensor:
        if term.estimator == "flow" or (term.estimator == "auto" and log_density is not None):
            if log_density is None:
                raise ValueError("entropy estimator 'flow' needs representation: normalizing_flow")
            return log_density
        return kde_log_density(x, term.bandwidth, term.leave_one_out)
