"""The run-directory package: its public names, the drawing record, and the layers around it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from sliceflow import rundir
from sliceflow.manifolds import MANIFOLDS
from sliceflow.manifolds.base import Drawing
from sliceflow.rundir import read_drawing

FLAT = {"boundary_radius": None, "extent": None, "distance": "W2^2"}


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_every_public_name_resolves():
    missing = [name for name in rundir.__all__ if not hasattr(rundir, name)]
    assert missing == []


@pytest.mark.parametrize("name", sorted(MANIFOLDS))
def test_a_manifolds_drawing_survives_scenario_yaml(name):
    drawing = MANIFOLDS[name]().drawing()
    recorded = yaml.safe_load(yaml.safe_dump({"drawing": drawing.to_dict()}))["drawing"]
    assert read_drawing(recorded) == drawing.to_dict()
    assert Drawing.from_dict(read_drawing(recorded)) == drawing


def test_the_poincare_record_is_the_disk_and_its_view():
    config = MANIFOLDS["poincare"].Config(curvature=-4.0)
    record = read_drawing(MANIFOLDS["poincare"](config).drawing().to_dict())
    assert record == {"boundary_radius": 0.5, "extent": 1.03 * 0.5, "distance": "geodesic W2^2"}


@pytest.mark.parametrize(
    "recorded",
    [None, "disk", [1.0], {"boundary_radius": "wide"}, {"extent": [1, 2]}, {"distance": ""}],
)
def test_a_malformed_drawing_record_is_the_flat_drawing(recorded):
    assert read_drawing(recorded) == FLAT


def test_a_partial_record_keeps_what_it_has():
    assert read_drawing({"boundary_radius": 2}) == {**FLAT, "boundary_radius": 2.0}


def test_geometry_imports_no_run_directory_engine_report_or_task():
    loaded = _modules_after("import sliceflow.manifolds")
    above = ("sliceflow.rundir", "sliceflow.engine", "sliceflow.report", "sliceflow.tasks")
    assert [m for m in loaded if m.startswith(above)] == []


def test_the_run_directory_and_the_report_import_no_torch_nor_geometry():
    loaded = _modules_after("import sliceflow.rundir, sliceflow.report.io, sliceflow.report.tasks")
    assert "torch" not in loaded and "sliceflow.manifolds" not in loaded


def test_the_engine_reads_the_version_the_package_shows():
    import sliceflow
    from sliceflow._version import package_version
    from sliceflow.engine.book import versions

    assert versions()["sliceflow"] == package_version() == sliceflow.__version__
