"""The couplings and networks of these tests are small: one torch thread, as the engine uses for
such sizes (``Task.small``); extra threads only spin-wait on a loaded machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
