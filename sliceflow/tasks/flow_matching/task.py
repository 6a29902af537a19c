"""Conditional flow matching (``task: flow_matching``): the DGSWP paper's Sec. 5.3 experiment.

Per seed, a velocity network ``v(t, x)`` is trained with the CFM loss (torchcfm's Gaussian path
``x_t = (1 - t) x0 + t x1 + sigma eps``, target ``u_t = x1 - x0``) on source-target pairs from
each method's coupling (I-CFM, OT-CFM, min-SWGG, DGSWP on aggregated minibatches). The trace is
the training loss; at the last step the network is scored on held-out target samples
(``sampling.csv``: exact W2^2 for Euler with 1..100 steps and for Dormand-Prince, with NFE).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sliceflow.errors import ScenarioError
from sliceflow.manifolds.base import Drawing
from sliceflow.manifolds.euclidean import Euclidean
from sliceflow.ot.exact import exact_w2sq_batch
from sliceflow.ot.policy import is_tiny
from sliceflow.random import rand, randn
from sliceflow.rundir import TraceSchema
from sliceflow.scenario.models import MethodSpec
from sliceflow.tasks import register_task
from sliceflow.tasks.base import Stepper, Task, cpu_clone
from sliceflow.tasks.flow_matching.couplings import COUPLINGS, CouplingContext, get_coupling
from sliceflow.tasks.flow_matching.data import TrainingStream, prepare_data
from sliceflow.tasks.flow_matching.evaluation import Scores, score
from sliceflow.tasks.flow_matching.network import VelocityMLP
from sliceflow.tasks.flow_matching.sampling import euler
from sliceflow.tasks.flow_matching.scenario import (
    FlowMatchingScenario,
    resolve_flow_matching_scenario,
)

SAMPLING_FILE = "sampling.csv"
TRAJECTORY_STEPS, FRAME_EVERY = 100, 4  # snapshots: Euler-100 paths, every 4th state (26)


@register_task("flow_matching")
class FlowMatching(Task):
    """Conditional flow matching under several couplings; W2^2 of samples against Euler steps."""

    Scenario = FlowMatchingScenario
    schema = TraceSchema(("loss", "pair_cost"), "loss", "CFM loss")
    tables = {SAMPLING_FILE: ("method", "seed", "solver", "steps", "nfe", "w2sq")}
    resolve_scenario = staticmethod(resolve_flow_matching_scenario)

    def __init__(self, scenario: FlowMatchingScenario, device: torch.device) -> None:
        super().__init__(scenario, device)
        self.data = prepare_data(scenario, device)
        shape = scenario.evaluation.image_shape
        d = self.data.train.shape[-1]
        if shape is not None and shape[0] * shape[1] != d:
            raise ScenarioError(
                f"image_shape {shape} has {shape[0] * shape[1]} pixels but samples have "
                f"dimension {d}; make them agree", source=scenario.name,
                path=("evaluation", "image_shape"),
            )  # fmt: skip
        self._floor: list[float] | None = None

    @classmethod
    def catalogue(cls) -> list[tuple[str, Mapping[str, Any]]]:
        return [("methods", COUPLINGS)]

    def build_stepper(self, spec) -> FlowMatchingStepper:
        return FlowMatchingStepper(self, spec)

    def snapshot_shape(self) -> tuple[tuple[int, ...], np.dtype]:
        S, n, d = self.data.eval_source[:, : self.scenario.evaluation.show].shape
        frames = len(range(0, TRAJECTORY_STEPS + 1, FRAME_EVERY))
        dtype = np.float64 if self.scenario.dtype == "float64" else np.float32
        return (S, frames, n, d), np.dtype(dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        """The held-out target samples, drawn behind the generated ones."""
        return {"target": self.data.eval_target.detach().cpu().numpy()}

    def run_info(self) -> dict[str, Any]:
        """The drawing, and the W2^2 floor: held-out targets against as many training targets."""
        if self._floor is None:
            held_out = self.data.eval_target
            real = self.data.train[:, : held_out.shape[1]]
            floor = exact_w2sq_batch(real, held_out, Euclidean(), self.scenario.trace.solver)
            self._floor = [float(v) for v in floor]
        return {
            "drawing": Drawing().to_dict(),
            "frame_times": [
                k / TRAJECTORY_STEPS for k in range(0, TRAJECTORY_STEPS + 1, FRAME_EVERY)
            ],  # fmt: skip
            "sampling_floor_w2sq": self._floor,
        }

    def small(self) -> bool:
        """A step's matrices, ``S B width`` numbers, are tiny for the size policy."""
        s = self.scenario
        width = max(s.network.width, self.data.train.shape[-1])
        return is_tiny(len(s.seeds) * s.batch_size * width, "flow_matching")


class FlowMatchingStepper(Stepper):
    """One coupling: per-seed networks, their Adam, the coupling and the training stream."""

    def __init__(self, task: FlowMatching, spec: MethodSpec) -> None:
        # imported here: the task registry imports this module even where torchcfm is missing
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

        scenario, data = task.scenario, task.data
        self.task, self.label, self.steps = task, spec.label, scenario.steps
        self.seeds = list(scenario.seeds)
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in self.seeds]
        S, _, d = data.train.shape
        dtype, device = data.train.dtype, data.train.device
        self.batch_size, self.sigma = scenario.batch_size, scenario.path_sigma(spec)
        self.matcher = ConditionalFlowMatcher(sigma=self.sigma)  # the path and its target
        net = scenario.network
        self.net = VelocityMLP(d, net.width, net.depth, self.generators, dtype=dtype,
                               device=device)  # fmt: skip
        self.optimizer = torch.optim.Adam(self.net.parameters, lr=scenario.lr)
        context = CouplingContext(S, d, self.batch_size, dtype, device, self.generators)
        self.coupling = get_coupling(spec.method)(spec.params, context)
        self.stream = TrainingStream(data.train, data.draw_source, self.generators,
                                     self.batch_size)  # fmt: skip
        self.pairs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.used = 0  # pairs of self.pairs already trained on
        self.step, self.elapsed = 0, 0.0
        self.scores: Scores | None = None

    # -- one training iteration ----------------------------------------------------------------
    def _minibatch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next B pairs, coupling a new block of minibatches when the last one is used."""
        if self.pairs is None or self.used >= self.pairs[0].shape[1]:
            self.pairs = self.coupling.pair(*self.stream.next(self.coupling.aggregate))
            self.used = 0
        start, self.used = self.used, self.used + self.batch_size
        return self.pairs[0][:, start : self.used], self.pairs[1][:, start : self.used]

    def _loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """CFM loss per seed (S,): ``mean |v(t, x_t) - u_t|^2`` over the minibatch and axes."""
        S, B, d = x0.shape
        t = rand(self.generators, (B,), dtype=x0.dtype, device=x0.device)  # (S, B)
        if self.sigma > 0:
            noise = randn(self.generators, (B, d), dtype=x0.dtype, device=x0.device)
        else:  # sigma = 0 multiplies the noise away: draw none
            noise = torch.zeros_like(x0)
        flat = (x0.reshape(S * B, d), x1.reshape(S * B, d), t.reshape(S * B))
        xt = self.matcher.sample_xt(*flat, noise.reshape(S * B, d))
        ut = self.matcher.compute_conditional_flow(*flat, xt)
        v = self.net(t, xt.view(S, B, d))
        return (v - ut.view(S, B, d)).square().mean(dim=(1, 2))

    def advance(self, want_values: bool) -> dict[str, np.ndarray]:
        """Iteration ``step``: a minibatch of pairs, the CFM loss, one Adam step (none at the
        last step, whose loss is that of the final network on the next minibatch)."""
        start = time.perf_counter()
        x0, x1 = self._minibatch()
        if self.step >= self.steps:
            with torch.no_grad():
                loss = self._loss(x0, x1)
        else:
            loss = self._loss(x0, x1)
            self.optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()  # seeds are independent: each gets its own gradient
            self.optimizer.step()
            self.step += 1
        self.elapsed += time.perf_counter() - start
        if not want_values:
            return {}
        pair_cost = (x1 - x0).square().sum(-1).mean(-1)
        return {"loss": _numpy(loss), "pair_cost": _numpy(pair_cost)}

    def info(self) -> dict[str, list]:
        return self.coupling.info()

    def seconds_per_step(self) -> float:
        """A typical iteration, the coupling's one-off start skipped (e.g. DGSWP's initial
        projection steps): one coupling call spread over its ``aggregate`` iterations."""
        self.coupling.skip_start()
        start = time.perf_counter()
        for _ in range(self.coupling.aggregate):
            self.advance(want_values=False)
        return (time.perf_counter() - start) / self.coupling.aggregate

    # -- evaluation, at the last step ----------------------------------------------------------
    def measure(self, note=None) -> dict[str, np.ndarray]:
        if self.step == self.steps and self.scores is None:
            data, scenario = self.task.data, self.task.scenario
            self.scores = score(self.net, data.eval_source, data.eval_target,
                                scenario.evaluation, scenario.trace.solver, note)  # fmt: skip
        return {}

    def metrics(self) -> dict[str, np.ndarray]:
        if self.step == self.steps and self.scores is not None:
            return {"straightness": self.scores.straightness}
        return {}

    def table_rows(self) -> dict[str, list[tuple]]:
        if self.step == self.steps and self.scores is not None:
            return {SAMPLING_FILE: self.scores.rows(self.label, self.seeds)}
        return {}

    def snapshot(self) -> np.ndarray:
        """Euler-100 paths of the first ``show`` evaluation sources: (S, frames, show, d)."""
        source = self.task.data.eval_source[:, : self.task.scenario.evaluation.show]
        _, kept = euler(self.net, source, TRAJECTORY_STEPS, keep_every=FRAME_EVERY)
        return torch.stack(kept, dim=1).detach().cpu().numpy()

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return cpu_clone({
            "step": self.step, "elapsed": self.elapsed, "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(), "coupling": self.coupling.state_dict(),
            "stream": self.stream.state_dict(), "pairs": self.pairs, "used": self.used,
            "generators": [g.get_state() for g in self.generators],
        })  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.task.data.train.device
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.coupling.load_state_dict(state["coupling"])
        self.stream.load_state_dict(state["stream"])
        pairs = state["pairs"]
        self.pairs = None if pairs is None else (pairs[0].to(device), pairs[1].to(device))
        self.used = int(state["used"])
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)
        self.scores = None


def _numpy(values: torch.Tensor) -> np.ndarray:
    return values.detach().double().cpu().numpy()
