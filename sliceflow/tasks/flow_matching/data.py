"""The training stream of flow matching: minibatches of source and target samples for all seeds.

Target samples are the training rows of a finite set (a file, a bundled image set, or draws from
a generator), visited in a fresh random order each epoch, as a data loader with ``shuffle=True``
does. Source samples are drawn afresh for every epoch from the source distribution (e.g. new
Gaussian noise), through ``draw_source(epoch)``. Everything random is per seed: the order from
the seed's generator, the source from the side's own dataset stream of that epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sliceflow.datasets import Stream
from sliceflow.errors import ScenarioError
from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.random import rand
from sliceflow.scenario.clouds import sample_distribution
from sliceflow.tasks.flow_matching.couplings.base import gather_rows

HOLDOUT_PART = 1  # the target stream's part that orders the held-out split


def _check_points(points: np.ndarray, where: str, dtype, scenario, side: str) -> None:
    """ScenarioError naming the first row not finite as read or in the run's ``dtype``."""
    try:
        Euclidean().validate_points(torch.from_numpy(points), where)
        if dtype != torch.float64:  # a large coordinate may overflow float32
            Euclidean().validate_points(torch.from_numpy(points).to(dtype), where)
    except ValueError as error:
        raise ScenarioError(str(error), source=scenario.name, path=(side,)) from None


class TrainingStream:
    """Minibatches ``(x0, x1)`` (S, k B, d) in epoch order; ``state_dict`` for ``--resume``."""

    def __init__(self, target: torch.Tensor, draw_source: Callable[[int], torch.Tensor],
                 generators: list[torch.Generator], batch_size: int) -> None:  # fmt: skip
        self.target, self.draw_source = target, draw_source  # (S, N, d); epoch -> (S, N, d)
        self.generators, self.batch_size = generators, batch_size
        self.epoch, self.position = -1, 0
        self.order = self.source = None

    def _new_epoch(self) -> None:
        self.epoch += 1
        S, N, _ = self.target.shape
        keys = rand(self.generators, (N,), dtype=torch.float64, device=self.target.device)
        self.order = keys.argsort(dim=-1)  # (S, N): a uniform random permutation per seed
        self.source = self.draw_source(self.epoch)
        self.position = 0

    def next(self, minibatches: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``minibatches`` minibatches as one block: two (S, minibatches * B, d)."""
        wanted = minibatches * self.batch_size
        sources, targets = [], []
        while wanted > 0:
            if self.order is None or self.position == self.order.shape[1]:
                self._new_epoch()
            take = min(wanted, self.order.shape[1] - self.position)
            rows = self.order[:, self.position : self.position + take]  # (S, take)
            targets.append(gather_rows(self.target, rows))
            sources.append(self.source[:, self.position : self.position + take])
            self.position += take
            wanted -= take
        return torch.cat(sources, 1), torch.cat(targets, 1)

    def state_dict(self) -> dict[str, Any]:
        order = None if self.order is None else self.order.cpu().clone()
        return {"epoch": self.epoch, "position": self.position, "order": order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        order = state["order"]
        self.order = None if order is None else order.to(self.target.device)
        # the source of an epoch is a pure function of (seed, epoch): draw it again
        self.source = None if order is None else self.draw_source(self.epoch)


@dataclass
class FlowMatchingData:
    """Per-seed data of a run: training targets, held-out targets and evaluation sources."""

    train: torch.Tensor  # (S, N, d) training target samples
    eval_target: torch.Tensor  # (S, n_eval, d) held-out target samples
    eval_source: torch.Tensor  # (S, n_eval, d) source samples the evaluation integrates
    draw_source: Callable[[int], torch.Tensor]  # epoch -> (S, N, d) fresh source samples


def prepare_data(scenario, device: torch.device) -> FlowMatchingData:
    """Seed i: its target set (``Stream(i, "target")``) split at random into held-out and
    training rows, evaluation sources from ``Stream(i, "source")``, training sources of epoch e
    from ``Stream(i, "source", part=e + 1)``; ScenarioError (one line) on unusable data."""
    from sliceflow.tasks.flow_matching.scenario import DEFAULT_TARGET_SAMPLES

    n_eval, dtype = scenario.evaluation.n_samples, scenario.torch_dtype()
    targets = []
    for seed in scenario.seeds:
        points, where = sample_distribution(scenario.target, DEFAULT_TARGET_SAMPLES,
                                            Stream(seed, "target"), scenario.dim, scenario,
                                            "target", ("target", "n_samples"))  # fmt: skip
        _check_points(points, where, dtype, scenario, "target")
        if len(points) <= n_eval:
            raise ScenarioError(
                f"{where} gives {len(points)} target samples and evaluation.n_samples = {n_eval} "
                "of them are held out; hold out fewer or give more samples",
                source=scenario.name, path=("evaluation", "n_samples"),
            )  # fmt: skip
        order = Stream(seed, "target", part=HOLDOUT_PART).random_state().permutation(len(points))
        targets.append(points[order])
    if len({t.shape for t in targets}) != 1:
        raise ScenarioError("target sizes differ between seeds", source=scenario.name)
    pool = torch.from_numpy(np.stack(targets)).to(device=device, dtype=dtype)  # (S, M, d)
    S, M, d = pool.shape

    def draw(count: int, part: int) -> torch.Tensor:
        clouds = []
        key = ("evaluation", "n_samples") if part == 0 else ("target", "n_samples")
        for seed in scenario.seeds:
            stream = Stream(seed, "source", part=part)
            points, where = sample_distribution(scenario.source, count, stream, d, scenario,
                                                "source", key)  # fmt: skip
            if part == 0:  # the evaluation's sources; training draws are the same distribution
                _check_points(points, where, dtype, scenario, "source")
            if points.shape != (count, d):
                raise ScenarioError(
                    f"source samples have shape {points.shape[1:]} but target samples have "
                    f"dimension {d}; make them agree", source=scenario.name, path=("source",),
                )  # fmt: skip
            clouds.append(points)
        return torch.from_numpy(np.stack(clouds)).to(device=device, dtype=dtype)

    return FlowMatchingData(
        train=pool[:, n_eval:], eval_target=pool[:, :n_eval], eval_source=draw(n_eval, 0),
        draw_source=lambda epoch: draw(M - n_eval, epoch + 1),
    )  # fmt: skip
