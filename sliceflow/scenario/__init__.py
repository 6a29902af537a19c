"""Scenario files: models (pydantic), loading with line-numbered one-line errors, per-seed clouds.

``load_scenario(path)`` reads and validates a file; ``build_scenario(dict)`` validates the same
content given as a dict; both raise ``ScenarioError`` whose ``str()`` is one line naming the file,
the line, the field and the fix.
"""

from __future__ import annotations

from sliceflow.errors import ScenarioError
from sliceflow.scenario.loading import (
    Parser,
    build_scenario,
    load_scenario,
    parse_override,
    resolve_flow_scenario,
)
from sliceflow.scenario.models import Scenario, ScenarioBase

__all__ = [
    "Parser",
    "Scenario",
    "ScenarioBase",
    "ScenarioError",
    "build_scenario",
    "load_scenario",
    "parse_override",
    "resolve_flow_scenario",
]
