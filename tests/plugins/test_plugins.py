"""Third-party methods and datasets: entry points, class references, origins, broken plugins."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import sliceflow
import sliceflow.datasets
import sliceflow.flows
from sliceflow.cli import app
from sliceflow.flows import FLOWS, get_flow
from sliceflow.plugins import Plugins
from tests.helpers import small_scenario
from tests.plugins.install import PLUGINS, entry_points, write_dist_info

ORIGIN = "plugin sliceflow-demo 0.1.0"


def test_the_demo_package_registers_its_method_and_dataset_with_their_origin():
    groups = entry_points(PLUGINS / "demo_plugin" / "pyproject.toml")
    assert groups == {"sliceflow.flows": {"energy": "sliceflow_demo:EnergyFlow"},
                      "sliceflow.datasets": {"demo": "sliceflow_demo.datasets"}}  # fmt: skip
    assert FLOWS["energy"].__name__ == "EnergyFlow"  # so the flow contract test covers it
    assert sliceflow.flows.flow_origin("energy") == f"{ORIGIN} (sliceflow_demo:EnergyFlow)"
    assert sliceflow.flows.flow_origin("swd") == "sliceflow"
    assert "spiral" in sliceflow.datasets.DATASETS
    assert sliceflow.datasets.dataset_origin("spiral").startswith(ORIGIN)
    listing = CliRunner().invoke(app, ["list"])
    assert listing.exit_code == 0
    line = next(row for row in listing.stdout.splitlines() if row.strip().startswith("energy"))
    assert ORIGIN in line and "euclidean" in line


def test_a_plugin_method_runs_in_the_engine_on_a_plugin_dataset():
    scenario = small_scenario(steps=100, target={"dataset": "spiral"},
                              methods=[{"method": "energy", "lr": 20.0}])  # fmt: skip
    result = sliceflow.run(scenario, write=False)
    median = np.median(result.w2sq("energy"), axis=0)
    assert median[-1] < median[0] / 100  # the energy-distance flow reaches the spiral


def test_a_class_reference_runs_like_the_registered_name():
    by_name = sliceflow.run(small_scenario(steps=15, methods=[{"method": "energy", "lr": 5.0}]),
                            write=False)  # fmt: skip
    scenario = small_scenario(steps=15, methods=[{"method": "sliceflow_demo:EnergyFlow",
                                                  "lr": 5.0}])  # fmt: skip
    by_class = sliceflow.run(scenario, write=False, overrides={"methods.EnergyFlow.lr": 5.0})
    assert by_class.labels == ["EnergyFlow"]  # the default label of a class reference
    assert np.array_equal(by_name.w2sq("energy"), by_class.w2sq("EnergyFlow"))
    assert np.array_equal(by_name.loss("energy"), by_class.loss("EnergyFlow"))


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("no_such_package_xyz.flows:MyFlow", "cannot import 'no_such_package_xyz.flows'"),
        ("sliceflow_demo:NoSuchFlow", "has no 'NoSuchFlow'"),
        ("json:dumps", "is not a subclass of sliceflow.flows.Flow"),
    ],
)
def test_a_bad_class_reference_is_one_line_naming_it(reference, problem):
    with pytest.raises(sliceflow.ScenarioError) as caught:
        sliceflow.run(small_scenario(steps=2, methods=[{"method": reference}]), write=False)
    message = str(caught.value)
    assert problem in message and "methods[0].method" in message and "\n" not in message


@pytest.fixture
def broken_plugins(tmp_path, monkeypatch):
    """Three broken entry points on sys.path: a missing module, a name taken by a built-in
    method, an object that is not a flow; sliceflow's plugin record is restored afterwards."""
    groups = {
        "sliceflow.flows": {
            "ghost": "no_such_module_xyz:Flow",
            "swd": "sliceflow_demo:EnergyFlow",
            "dumps": "json:dumps",
        }
    }
    write_dist_info(tmp_path, "broken-plugin", "0.2", groups)  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    record = Plugins(dict(FLOWS.plugins.origins), {}, set(FLOWS.plugins.seen))
    monkeypatch.setattr(FLOWS, "plugins", record)
    before = dict(FLOWS)
    sliceflow.flows.load_plugins()
    yield record
    assert FLOWS == before  # nothing half-registered


def test_a_broken_plugin_is_one_line_and_the_other_methods_still_work(broken_plugins):
    assert sorted(broken_plugins.broken) == ["dumps", "ghost", "swd"]
    for line in broken_plugins.broken.values():
        assert "\n" not in line and "broken-plugin 0.2" in line and "uninstall" in line
    assert "ModuleNotFoundError" in broken_plugins.broken["ghost"]
    assert "registered twice" in broken_plugins.broken["swd"]
    with pytest.raises(ValueError, match="no_such_module_xyz"):
        get_flow("ghost")
    assert get_flow("swd").__module__ == "sliceflow.flows.swd"  # the built-in keeps its name
    result = sliceflow.run(
        small_scenario(steps=3, methods=[{"method": "swd"}, {"method": "energy"}]), write=False
    )
    assert result.labels == ["swd", "energy"]
    listing = CliRunner().invoke(app, ["list"])
    assert listing.exit_code == 0 and "broken plugin" in listing.output
