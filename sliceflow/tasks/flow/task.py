"""The particle flow, the default kind of run (``task: flow``): per seed, source particles are
stepped toward target samples by each method's flow, and their distance to the target is traced
(the exact W2^2 by default; estimators for large clouds, see ``flow_records``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sliceflow.flows import FLOWS
from sliceflow.manifolds import MANIFOLDS
from sliceflow.ot.policy import is_large, is_tiny
from sliceflow.rundir import TraceSchema
from sliceflow.scenario.models import MethodSpec
from sliceflow.tasks import register_task
from sliceflow.tasks.base import Stepper, Task, cpu_clone
from sliceflow.tasks.flow.barycenter import build_flow, check_methods, references
from sliceflow.tasks.flow.clouds import WeightedTargets, make_clouds
from sliceflow.tasks.flow.records import FlowRecords, check_trace_budget
from sliceflow.tasks.flow.scenario import FlowScenario, resolve_flow_scenario


@register_task("flow")
class ParticleFlow(Task):
    """Source particles flow toward target samples; trace ``loss`` and the distance to them."""

    Scenario = FlowScenario
    schema = TraceSchema(("loss", "w2sq"), "w2sq", "exact W2^2")
    resolve_scenario = staticmethod(resolve_flow_scenario)

    def __init__(self, scenario: FlowScenario, device: torch.device) -> None:
        super().__init__(scenario, device)
        self.manifold = MANIFOLDS[scenario.manifold.name](scenario.manifold.params)
        self.x0, self.y = make_clouds(scenario, self.manifold, scenario.torch_dtype(), device)
        if isinstance(self.y, WeightedTargets):  # a barycentre flow: sum_k w_k W2^2(x, Y_k)
            check_methods(scenario, self.manifold)
        self._references = None
        self.records = FlowRecords(scenario, self.manifold, self.x0, self.y)
        self.schema = self.records.schema

    @classmethod
    def catalogue(cls) -> list[tuple[str, Mapping[str, Any]]]:
        return [("methods", FLOWS)]

    def build_stepper(self, spec: MethodSpec) -> ParticleStepper:
        scenario = self.scenario
        return ParticleStepper(spec, scenario.seeds, self.manifold, self.x0, self.y,
                               scenario.steps, self.records)  # fmt: skip

    def snapshot_shape(self) -> tuple[tuple[int, ...], np.dtype]:
        dtype = np.float64 if self.x0.dtype == torch.float64 else np.float32
        return self.records.snapshot_shape(), np.dtype(dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        return self.records.arrays()

    def final_arrays(self) -> dict[str, np.ndarray]:
        return self.records.final_arrays()

    @classmethod
    def check_budget(cls, scenario: FlowScenario) -> None:
        check_trace_budget(scenario)

    def run_info(self) -> dict[str, Any]:
        info = {"manifold": self.manifold.name, "drawing": self.manifold.drawing().to_dict()}
        if isinstance(self.y, WeightedTargets):
            if self._references is None:  # computed once, at the first write
                self._references = references(self.scenario, self.x0, self.y, self.manifold)
            info |= {"target_weights": self.y.weights, "references": self._references}
        return info

    def small(self) -> bool:
        """A step's tensors, ``S n max(n, m, d)`` numbers, are tiny for the size policy."""
        S, n, d = self.x0.shape
        clouds = self.y.clouds if isinstance(self.y, WeightedTargets) else [self.y]
        m = max(cloud.shape[1] for cloud in clouds)
        return is_tiny(S * n * max(n, m, d), "flow")

    def large(self) -> bool:
        """The particles or a target cloud take the chunked path of the size policy."""
        clouds = self.y.clouds if isinstance(self.y, WeightedTargets) else [self.y]
        return is_large(self.x0.shape[1], max(cloud.shape[1] for cloud in clouds))


class ParticleStepper(Stepper):
    """Particles ``x`` (S, n, d) of one method, its flow, per-seed generators and divergence book.

    Non-finite particles keep their previous position and are counted. A seed whose steps produce
    non-finite particles ``manifold.nonfinite_patience`` times in a row is diverged from that step:
    its particles are frozen and its ``w2sq`` is reported as inf (never averaged in).
    """

    def __init__(self, spec: MethodSpec, seeds: list[int], manifold, x0, y, steps: int,
                 records: FlowRecords) -> None:  # fmt: skip
        self.spec, self.manifold, self.y, self.steps = spec, manifold, y, steps
        self.records = records
        self.label = spec.label
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        S = x0.shape[0]
        self.flow = build_flow(spec, manifold, x0, y, self.generators, seeds)
        self.x = x0.detach().clone()
        self.step = 0
        self.elapsed = 0.0
        self.diverged = torch.zeros(S, dtype=torch.bool, device=x0.device)
        self.diverged_at = np.full(S, -1)
        self.nonfinite = np.zeros(S, dtype=np.int64)
        self.streak = torch.zeros(S, dtype=torch.long, device=x0.device)
        self.patience = int(getattr(manifold, "nonfinite_patience", 1))

    # -- one step ------------------------------------------------------------------------------
    def advance(self, want_values: bool) -> dict[str, np.ndarray]:
        """Run step ``self.step``: inner loop, loss, particle update (none at the last step)."""
        want_loss = want_values
        start = time.perf_counter()
        flow, x, y, last = self.flow, self.x, self.y, self.step >= self.steps
        loss = None
        if flow.implicit:
            if want_loss:
                with torch.no_grad():
                    loss = flow.loss(x, y)
            if not last:
                self._accept(flow.implicit_step(x, y).detach())
        else:
            flow.inner_update(x, y)
            if last:
                with torch.no_grad():
                    loss = flow.loss(x, y)
            else:
                x_var = x.detach().requires_grad_(True)
                loss = flow.loss(x_var, y)
                (grad,) = torch.autograd.grad(loss.sum(), x_var)
                with torch.no_grad():
                    self._accept(self.manifold.step(x, grad, self.spec.params.lr))
        self.elapsed += time.perf_counter() - start
        if not last:
            self.step += 1
        return {} if loss is None else {"loss": loss.detach().double().cpu().numpy()}

    def _accept(self, x_new: torch.Tensor) -> None:
        x_old = self.x
        finite = torch.isfinite(x_new).all(dim=-1)  # (S, n)
        bad = (~finite).sum(dim=-1)  # (S,)
        if bool(bad.any()):
            self.nonfinite += bad.cpu().numpy()
            self.streak = torch.where(bad > 0, self.streak + 1, torch.zeros_like(self.streak))
            newly = (self.streak >= self.patience) & ~self.diverged
            if bool(newly.any()):
                self.diverged_at[newly.cpu().numpy()] = self.step + 1
                self.diverged |= newly
            x_new = torch.where(finite.unsqueeze(-1), x_new, x_old)
        else:
            self.streak.zero_()
        if bool(self.diverged.any()):
            x_new = torch.where(self.diverged.view(-1, 1, 1), x_old, x_new)
        self.x = x_new.detach()

    def measure(self, note=None) -> dict[str, np.ndarray]:
        """The traced distances per seed of the current particles (inf once a seed diverged)."""
        values = self.records.measure(self.x, self.y, note)
        for column in values.values():
            column[self.diverged.cpu().numpy()] = np.inf
        return values

    def metrics(self) -> dict[str, np.ndarray]:
        with torch.no_grad():
            found = self.flow.extra_metrics(self.x, self.y, self.step)
        return {k: v.detach().double().cpu().numpy() for k, v in found.items()}

    def snapshot(self) -> np.ndarray:
        return self.records.snapshot(self.x)

    def final(self) -> np.ndarray | None:
        return self.records.final(self.x)

    def info(self) -> dict[str, list]:
        """The flow's own per-seed counters, then the divergence book's."""
        counted = {name: np.asarray(v).tolist() for name, v in self.flow.counters().items()}
        return {
            **counted,
            "nonfinite_particles": self.nonfinite.tolist(),
            "diverged_at_step": self.diverged_at.tolist(),
        }

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "x": self.x.detach().cpu().clone(),
            "step": self.step,
            "elapsed": self.elapsed,
            "flow": cpu_clone(self.flow.state_dict()),
            "generators": [g.get_state() for g in self.generators],
            "diverged": self.diverged.cpu().clone(),
            "diverged_at": self.diverged_at.copy(),
            "nonfinite": self.nonfinite.copy(),
            "streak": self.streak.cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.x.device
        self.x = state["x"].to(device)
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.flow.load_state_dict(state["flow"])
        for generator, saved in zip(self.generators, state["generators"], strict=True):
            generator.set_state(saved)
        self.diverged = state["diverged"].to(device)
        self.diverged_at = state["diverged_at"].copy()
        self.nonfinite = state["nonfinite"].copy()
        self.streak = state["streak"].to(device)
