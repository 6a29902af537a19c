"""The size policy: its rules at their thresholds, and no library call changing torch's thread
count (the engine sets it)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest
import torch

from sliceflow._kernels import policy
from sliceflow._kernels.chunked import linear_projection
from sliceflow.manifolds.poincare.math import busemann
from sliceflow.ot import policy as public
from sliceflow.ot.sliced import min_swgg_plan, sliced_w2_projected
from sliceflow.random import random_directions


def test_the_chunked_path_starts_at_large_points():
    large = policy.POLICY.large_points
    assert not policy.is_large(large - 1, large - 1)
    assert policy.is_large(large, 1) and policy.is_large(1, large)


@pytest.mark.parametrize("n,m,L", [(10, 10, 50), (5000, 300, 50), (10**7, 10, 3), (4096, 8192, 1)])
def test_a_chunk_holds_at_most_chunk_values_per_cloud_and_at_least_one_direction(n, m, L):
    chunk = policy.directions_per_chunk(n, m, L)
    assert 1 <= chunk <= L
    assert chunk == 1 or chunk * max(n, m) <= policy.POLICY.chunk_values
    assert chunk == L or (chunk + 1) * max(n, m) > policy.POLICY.chunk_values


def test_seeds_share_threads_only_from_the_work_threshold():
    work = policy.POLICY.seed_thread_work
    assert policy.seed_threads(8, work / 2, threads=4) == 1
    assert policy.seed_threads(8, work, threads=4) == 4
    assert policy.seed_threads(3, work, threads=4) == 3


def test_torch_threads_one_on_the_cpu_for_tiny_or_large_runs_only():
    cpu, other = torch.device("cpu"), torch.device("meta")
    assert public.torch_threads(cpu, tiny=True, large=False) == 1
    assert public.torch_threads(cpu, tiny=False, large=True) == 1
    assert public.torch_threads(cpu, tiny=False, large=False) is None
    assert public.torch_threads(other, tiny=True, large=True) is None
    assert public.is_tiny(2_000_000, "flow") and not public.is_tiny(2_000_001, "flow")
    assert public.is_tiny(10**12, "plan")


def test_a_swapped_table_is_the_one_read(monkeypatch):
    assert public.current_policy() is policy.POLICY and not public.is_large(10, 1)
    small = replace(policy.POLICY, large_points=10)
    monkeypatch.setattr(policy, "POLICY", small)
    assert public.current_policy() is small and public.is_large(10, 1)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def test_the_chunked_paths_keep_the_callers_thread_count(two_threads):
    n = policy.POLICY.large_points
    g = torch.Generator().manual_seed(0)
    x = 0.5 * torch.rand(1, n, 2, generator=g, dtype=torch.float64) - 0.25
    y = 0.5 * torch.rand(1, n, 2, generator=g, dtype=torch.float64)
    slices = random_directions([torch.Generator().manual_seed(1)], 3, 2, dtype=torch.float64)
    seen = []

    def watched(project):
        def call(z, s):
            seen.append(torch.get_num_threads())
            return project(z, s)

        return call

    x.requires_grad_(True)
    sliced_w2_projected(x, y, slices, watched(partial(busemann, c=1.0))).sum().backward()
    min_swgg_plan(x.detach(), y, slices, watched(linear_projection))
    assert seen and set(seen) == {two_threads}
    assert torch.get_num_threads() == two_threads
