"""Shared fixtures: a scenario dict written to a temporary file when one is needed.

The demo plugin of tests/plugins (a method and a dataset from a third-party package) is installed
for the whole session before any test module is collected, so every test that runs over all
registered flows or datasets (the flow contract, the stream independence) covers it too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "Agg")
_SITE = Path(tempfile.mkdtemp(prefix="sliceflow-plugins-"))


def pytest_configure(config):
    from tests.plugins.install import install

    install("demo_plugin", _SITE)
    import sliceflow.datasets
    import sliceflow.flows

    sliceflow.flows.load_plugins()  # in case a plugin of pytest imported sliceflow already
    sliceflow.datasets.load_plugins()


def pytest_unconfigure(config):
    shutil.rmtree(_SITE, ignore_errors=True)


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario dict (or raw text) to a YAML file and return its path."""

    def write(content, name: str = "scenario.yaml"):
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write
