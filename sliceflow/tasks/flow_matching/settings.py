"""Former name of :mod:`sliceflow.tasks.flow_matching.scenario`, kept while ``data.py`` imports
``DEFAULT_TARGET_SAMPLES`` from here; remove once it imports ``scenario``."""

from sliceflow.tasks.flow_matching.scenario import DEFAULT_TARGET_SAMPLES

__all__ = ["DEFAULT_TARGET_SAMPLES"]
