"""Seeds in parallel threads give the same numbers as one thread (ASWD, DGSWP with an MLP)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import sliceflow._kernels.policy as policy
import sliceflow._kernels.threads as threads
from sliceflow.flows import get_flow
from tests.helpers import clouds, flow_steps, make_context

CASES = {
    "aswd": {"inner_steps": 3},
    "dgswp": {"projection": "mlp", "hidden": 16, "inner_steps": 3, "keep_best": True},
}


def work_from(monkeypatch, threshold: float) -> None:
    """Seeds run in threads from ``threshold`` multiply-adds per seed."""
    monkeypatch.setattr(policy, "POLICY", replace(policy.POLICY, seed_thread_work=threshold))


def run(name: str, parallel: bool, monkeypatch):
    work_from(monkeypatch, 0 if parallel else float("inf"))
    monkeypatch.setattr(policy, "cores", lambda: 3)
    seeds = [0, 1, 2, 3, 4]
    x, y = clouds(seeds, n=12, d=30, dtype=torch.float32)  # d + 1 > n + m: low-rank DGSWP
    flow = get_flow(name)(get_flow(name).Config(**CASES[name]),
                          make_context(seeds, n=12, d=30, dtype=torch.float32))  # fmt: skip
    moved, losses = flow_steps(flow, x, y, steps=3)
    return moved, losses, flow.state_dict()


@pytest.mark.parametrize("name", sorted(CASES))
def test_threads_over_seeds_change_no_number(name, monkeypatch):
    assert len(threads.seed_ranges(5, 1.0, 3)) == 1
    work_from(monkeypatch, 0)
    assert [(r.start, r.stop) for r in threads.seed_ranges(5, 1.0, 3)] == [(0, 2), (2, 3), (3, 5)]
    one = run(name, False, monkeypatch)
    many = run(name, True, monkeypatch)
    assert torch.equal(one[0], many[0]) and torch.equal(one[1], many[1])
    assert one[2]["optimizer"]["step"] == many[2]["optimizer"]["step"] == 9
    for key in ("params", "weight", "bias"):
        if key in one[2]:
            assert torch.equal(one[2][key], many[2][key])
