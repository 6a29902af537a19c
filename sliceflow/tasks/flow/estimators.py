"""Trace estimators: how far particles are from their target, also for clouds too large for
exact optimal transport.

Each estimator maps particles ``x`` (S, n, d) and targets ``y`` (S, m, d) to one float64 value per
seed (S,), with the manifold's ground cost (squared Euclidean or squared geodesic). Whatever it
draws at random (subsample indices, directions, k-means seeds) is given at construction, fixed for
the whole run, so every traced step measures the same thing and a resumed run measures it again
identically. ``column`` and ``description`` name the value in trace.csv and in the reports;
``w2sq`` is reserved for the exact value.

- :class:`ExactW2`: ``ot.emd2`` / exact assignment between the full clouds (``ot.exact``).
- :class:`SubsampleW2`: the exact W2^2 between fixed subsamples of both clouds.
- :class:`SlicedW2`: SW_2^2 with fixed directions (on the ball: Busemann functions of fixed
  ideal points, the horospherical SW), in chunks (``ot.chunked``): any n in bounded memory.
- :class:`PaletteW2`: the exact W2^2 between k-means palettes (colour transfer's protocol).
- :class:`SinkhornDivergence`: the debiased Sinkhorn divergence (``ot.sinkhorn``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from sliceflow.ot.exact import exact_w2sq_batch
from sliceflow.ot.sliced import sliced_w2_projected

log = logging.getLogger("sliceflow")
Note = Callable[[str], None] | None


def _distance(manifold) -> str:
    """``W2^2`` or ``geodesic W2^2``, as the manifold names its squared distance."""
    return manifold.drawing().distance


class ExactW2:
    """Exact W2^2 between the full clouds (uniform weights, float64)."""

    column = "w2sq"

    def __init__(self, manifold, solver: str = "auto") -> None:
        self.manifold, self.solver = manifold, solver
        self.description = f"exact {_distance(manifold)}"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, note: Note = None) -> np.ndarray:
        return exact_w2sq_batch(x, y, self.manifold, self.solver, note)


class SubsampleW2:
    """Exact W2^2 between fixed subsamples: ``x[:, x_index]`` and ``y[:, y_index]``.

    .. math:: W_2^2\\Big(\\frac1k \\sum_{i \\in I} \\delta_{x_i}, \\frac1k \\sum_{j \\in J}
              \\delta_{y_j}\\Big), \\quad |I| = |J| = k

    A noisy but unbiased-in-spirit summary: two independent k-samples of the same law are at
    W2^2 > 0 from each other (about k^{-2/d} in d >= 3), which is the floor this estimator
    sees at convergence. x_index (S, k), y_index (S, k) int64.
    """

    column = "w2sq_subsample"

    def __init__(self, manifold, x_index: torch.Tensor, y_index: torch.Tensor,
                 solver: str = "auto") -> None:  # fmt: skip
        self.manifold, self.solver = manifold, solver
        self.x_index, self.y_index = x_index, y_index
        self.description = f"{_distance(manifold)} on {x_index.shape[1]:,}-point subsamples"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, note: Note = None) -> np.ndarray:
        xs, ys = _gather(x, self.x_index), _gather(y, self.y_index)
        return exact_w2sq_batch(xs, ys, self.manifold, self.solver, note)


class SlicedW2:
    """Sliced W2^2 with fixed slices: SW_2^2 with directions theta (S, L, d), or on the ball the
    horospherical SW_2^2 of fixed ideal points (``manifold.slice_values``).

    .. math:: \\frac1L \\sum_l W_2^2(t_{l\\#}\\mu, t_{l\\#}\\nu)

    Computed per seed in chunks of slices (bounded memory), sums in float64.
    """

    column = "sw2sq"

    def __init__(self, manifold, theta: torch.Tensor) -> None:
        self.manifold, self.theta = manifold, theta
        self.description = (
            f"{manifold.sliced_distance} with {theta.shape[1]:,} fixed {manifold.slice_name}s"
        )

    def __call__(self, x: torch.Tensor, y: torch.Tensor, note: Note = None) -> np.ndarray:
        theta = self.theta.to(device=x.device, dtype=x.dtype)
        slices = self.manifold.slice_values
        with torch.no_grad():
            value = sliced_w2_projected(x.detach(), y.detach(), theta, slices, bounded_memory=True)
        return value.double().cpu().numpy()


class PaletteW2:
    """Exact W2^2 between k-means palettes of the particles and of the target (uniform weights).

    .. math:: W_2^2\\Big(\\frac1k \\sum_c \\delta_{\\bar x_c(t)}, \\frac1k \\sum_c
              \\delta_{\\bar y_c}\\Big)

    The palettes follow the colour-transfer protocol of the sliced-Wasserstein literature
    (Nguyen et al., EBSW): ``MiniBatchKMeans`` with k clusters; the target's palette is fitted
    once, the particles' palette ``bar x(t)`` is fitted again on the particles of each traced
    step, with the same ``random_states[s]`` (so a traced value depends on the particles only,
    and ``--resume`` gives it again). Two independent palettes of one cloud are not equal: the
    value has a floor of a few 1e-2 on images at k = 3,000. Each traced step costs one k-means fit
    of the particles (about 10 s at n = 273,280, k = 3,000 on 2 cores) and one exact k x k solve;
    the target's fit runs on the first call, never during ``sliceflow validate``.

    The palette carried by the flow (each initial cluster's mean at step t) is not used: a
    sliced flow splits pixels of one colour between several target colours (ties in the sorts),
    so those means shrink toward the mean colour and stay far from the target's palette even
    when SW_2^2 is 1e-6.
    """

    column = "w2sq_kmeans"

    def __init__(self, manifold, y: torch.Tensor, clusters: int, random_states: list[int],
                 solver: str = "auto") -> None:  # fmt: skip
        self.manifold, self.solver, self.clusters = manifold, solver, clusters
        self.y, self.random_states = y, random_states
        self.target: torch.Tensor | None = None  # (S, k, d) target palettes
        self.description = f"{_distance(manifold)} between {clusters:,}-point k-means palettes"

    def palette(self, points: torch.Tensor, s: int) -> torch.Tensor:
        """The k-means palette (k, d) float64 of ``points`` (n, d), with seed s's state."""
        from sklearn.cluster import MiniBatchKMeans

        kmeans = MiniBatchKMeans(n_clusters=self.clusters, random_state=self.random_states[s],
                                 n_init=1, batch_size=6144)  # fmt: skip
        return torch.from_numpy(kmeans.fit(points.detach().double().cpu().numpy()).cluster_centers_)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, note: Note = None) -> np.ndarray:
        count = len(self.random_states)
        if self.target is None:
            if note is not None:
                note(f"k-means palettes of the target ({count} seed(s))")
            self.target = torch.stack([self.palette(self.y[s], s) for s in range(count)])
        if note is not None:
            note(f"k-means palettes of the particles ({count} seed(s))")
        palettes = torch.stack([self.palette(x[s], s) for s in range(count)])
        return exact_w2sq_batch(palettes, self.target, self.manifold, self.solver, note)


class SinkhornDivergence:
    """Debiased Sinkhorn divergence at scale ``blur``, in W2^2 units, optionally on fixed
    subsamples.

    .. math:: S_\\varepsilon = OT_\\varepsilon(\\mu, \\nu) - \\tfrac12 OT_\\varepsilon(\\mu,
              \\mu) - \\tfrac12 OT_\\varepsilon(\\nu, \\nu), \\quad \\text{cost } c(x, y),
              \\ \\varepsilon = 2\\,\\mathrm{blur}^2

    with ``c`` the manifold's squared cost: twice GeomLoss's ``SamplesLoss("sinkhorn", p=2,
    blur=blur)`` (cost ``c / 2``, ``reg = blur^2``), so it tends to W2^2 as blur -> 0. Log-domain
    iterations with epsilon-scaling 0.9, stopped at a marginal error of 1e-4 (a trace needs
    three digits, and 1e-6 took 5x the iterations); a problem that does not converge in 2000
    iterations is logged as a warning. Dense n x m costs: large clouds need
    ``x_index``/``y_index``.
    """

    column = "sinkhorn"

    def __init__(self, manifold, blur: float, x_index: torch.Tensor | None = None,
                 y_index: torch.Tensor | None = None) -> None:  # fmt: skip
        self.manifold, self.blur = manifold, blur
        self.x_index, self.y_index = x_index, y_index
        where = "" if x_index is None else f" on {x_index.shape[1]:,}-point subsamples"
        self.description = f"Sinkhorn divergence (blur {blur:g}){where}"

    def __call__(self, x: torch.Tensor, y: torch.Tensor, note: Note = None) -> np.ndarray:
        from sliceflow.ot.entropic._sinkhorn import sinkhorn_divergence

        if self.x_index is not None:
            x, y = _gather(x, self.x_index), _gather(y, self.y_index)
        x64, y64 = x.detach().double(), y.detach().double()
        with torch.no_grad():
            result = sinkhorn_divergence(x64, y64, self.blur**2, cost=self._half_cost,
                                         scaling=0.9, max_iter=2000, tol=1e-4)  # fmt: skip
        if not bool(result.converged.all()):
            log.warning("Sinkhorn trace: %d seed(s) did not converge in 2000 iterations",
                        int((~result.converged).sum()))  # fmt: skip
        return 2.0 * result.value.cpu().numpy()

    def _half_cost(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.manifold.cost_matrix(a, b) / 2


def _gather(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """points (S, n, d), index (S, k) -> (S, k, d)."""
    index = index.to(points.device)
    return points.gather(1, index.unsqueeze(-1).expand(-1, -1, points.shape[-1]))
