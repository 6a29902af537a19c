"""Scenario files, the generic part: the base models, loading with line-numbered one-line
errors, ``--set`` overrides, per-seed clouds. Each task's own model and rules live with the task
(``sliceflow.tasks.<name>.scenario``); the task registry resolves a file's ``task:``.

``load_scenario(path)`` reads and validates a file; ``build_scenario(dict)`` validates the same
content given as a dict; both raise ``ScenarioError`` whose ``str()`` is one line naming the file,
the line, the field and the fix.
"""

from __future__ import annotations

from sliceflow.errors import ScenarioError
from sliceflow.scenario.loading import build_scenario, load_scenario
from sliceflow.scenario.models import ScenarioBase
from sliceflow.scenario.overrides import parse_override
from sliceflow.scenario.parser import Parser

__all__ = [
    "Parser",
    "ScenarioBase",
    "ScenarioError",
    "build_scenario",
    "load_scenario",
    "parse_override",
]
