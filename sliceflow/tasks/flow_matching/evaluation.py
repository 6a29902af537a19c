"""Scoring a trained velocity network: exact W2^2 of generated against held-out samples.

For every solver (Euler with each requested number of steps, then adaptive Dormand-Prince) the
evaluation sources of each seed are integrated from t = 0 to 1 and the exact squared
2-Wasserstein distance to the held-out target samples is computed (uniform weights, squared
Euclidean cost, float64; ``sliceflow.ot.exact``). The straightness of the paths comes from a
100-step Euler integration of the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.ot.exact import exact_w2sq_batch
from sliceflow.tasks.flow_matching.sampling import Velocity, dopri5, euler, straightness

STRAIGHTNESS_STEPS = 100


@dataclass
class Scores:
    """Per solver: (solver, steps (S,), nfe (S,), w2sq (S,)); straightness (S,)."""

    solvers: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
    straightness: np.ndarray

    def rows(self, label: str, seeds: list[int]) -> list[tuple]:
        """sampling.csv rows ``(method, seed, solver, steps, nfe, w2sq)``, seeds inner."""
        return [
            (label, seed, solver, int(steps[i]), int(nfe[i]), float(w2sq[i]))
            for solver, steps, nfe, w2sq in self.solvers
            for i, seed in enumerate(seeds)
        ]


def score(velocity: Velocity, source: torch.Tensor, target: torch.Tensor, settings,
          trace_solver: str = "auto", note=None) -> Scores:  # fmt: skip
    """Scores of ``velocity`` from sources (S, n, d) against held-out targets (S, n, d).

    ``settings``: the scenario's ``evaluation`` section (euler_steps, dopri5, rtol, atol).
    """
    S = source.shape[0]
    space, solvers = Euclidean(), []

    def w2sq(x: torch.Tensor) -> np.ndarray:
        return exact_w2sq_batch(x, target, space, trace_solver, note)

    for steps in settings.euler_steps:
        generated, _ = euler(velocity, source, steps)
        counts = np.full(S, steps)
        solvers.append(("euler", counts, counts, w2sq(generated)))
    if settings.dopri5:
        results = [dopri5(velocity, source[s], s, settings.rtol, settings.atol) for s in range(S)]
        generated = torch.stack([r.x1 for r in results])
        solvers.append(("dopri5", np.array([r.steps for r in results]),
                        np.array([r.nfe for r in results]), w2sq(generated)))  # fmt: skip
    straight = straightness(velocity, source, STRAIGHTNESS_STEPS)
    return Scores(solvers, straight.double().cpu().numpy())
