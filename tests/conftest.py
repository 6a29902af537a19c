"""Shared fixtures: small scenarios as dicts, written to a temporary file when one is needed."""

from __future__ import annotations

import os

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "Agg")


def small_scenario(**changes) -> dict:
    """Two moons, SWD, 3 seeds, 60 steps: a scenario that runs in well under a second."""
    scenario = {
        "name": "small",
        "n_particles": 50,
        "steps": 60,
        "seeds": 3,
        "source": {"dataset": "uniform_cube"},
        "target": {"dataset": "two_moons"},
        "methods": [{"method": "swd", "lr": 1.0, "n_projections": 20}],
        "trace": {"every": 1},
        "snapshots": {"count": 4},
        "output": {"gif": False},
    }
    scenario.update(changes)
    return scenario


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario dict (or raw text) to a YAML file and return its path."""

    def write(content, name: str = "scenario.yaml"):
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write
