"""The engine sets a run's torch threads from the size policy: one thread for tiny tensors and
for clouds of the chunked path, the process's count otherwise, restored afterwards."""

from __future__ import annotations

import pytest
import torch

from sliceflow._kernels import policy
from sliceflow.engine.loop import threads
from sliceflow.scenario import build_scenario
from sliceflow.tasks import get_task
from tests.helpers import small_scenario


def flow_task(n: int, seeds: int = 1):
    scenario = build_scenario(small_scenario(n_particles=n, seeds=seeds, trace={"every": 10}))
    return get_task("flow")(scenario, torch.device("cpu"))


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_flow_tasks_answer_tiny_and_large_from_their_sizes():
    tiny = flow_task(50)
    assert tiny.small() and not tiny.large()
    large = flow_task(policy.POLICY.large_points)
    assert large.large() and not large.small()
    medium = flow_task(1000, seeds=3)  # 3 * 1000 * 1000 numbers: neither
    assert not medium.small() and not medium.large()


@pytest.mark.parametrize("n,inside", [(50, 1), (1000, 2), (4096, 1)])
def test_the_engine_runs_tiny_and_large_clouds_on_one_thread(two_threads, n, inside):
    task = flow_task(n, seeds=3 if n == 1000 else 1)
    with threads(task):
        assert torch.get_num_threads() == inside
    assert torch.get_num_threads() == two_threads
