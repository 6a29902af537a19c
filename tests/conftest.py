"""Shared fixtures: a scenario dict written to a temporary file when one is needed."""

from __future__ import annotations

import os

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario dict (or raw text) to a YAML file and return its path."""

    def write(content, name: str = "scenario.yaml"):
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write
