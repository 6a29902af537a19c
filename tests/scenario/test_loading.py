"""Scenario loading: defaults, overrides, line numbers, and every shipped scenario validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from sliceflow.scenario import ScenarioError, build_scenario, load_scenario, parse_override
from tests.helpers import SCENARIOS, small_scenario

SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_shipped_scenarios_validate(path):
    scenario = load_scenario(path)
    assert scenario.methods and scenario.steps > 0


def test_paper_settings_of_the_euclidean_scenarios():
    for name in ("two_moons", "swiss_roll", "gaussian_2d", "gaussian_500d"):
        scenario = load_scenario(Path("scenarios") / f"{name}.yaml")
        assert (scenario.n_particles, scenario.steps, len(scenario.seeds)) == (50, 2000, 10)
        swd = next(m for m in scenario.methods if m.label == "swd")
        assert (swd.params.lr, swd.params.n_projections) == (0.01, 20)


def test_seeds_count_or_list_and_snapshot_steps():
    scenario = build_scenario(small_scenario(seeds=[4, 2], steps=10, snapshots={"count": 3}))
    assert scenario.seeds == [4, 2]
    assert scenario.snapshot_steps() == [0, 5, 10]


def test_overrides_by_label_and_index():
    raw = small_scenario(methods=[{"method": "swd", "label": "a"}, {"method": "swd", "label": "b"}])
    scenario = build_scenario(
        raw, overrides={"methods.b.lr": 0.5, "methods.0.n_projections": 7, "steps": 4}
    )
    assert scenario.methods[1].params.lr == 0.5
    assert scenario.methods[0].params.n_projections == 7
    assert scenario.steps == 4


def test_parse_override_reads_yaml_values():
    assert parse_override("methods.swd.lr=1e-2") == ("methods.swd.lr", 0.01)
    assert parse_override("seeds=[1, 2]") == ("seeds", [1, 2])
    with pytest.raises(ScenarioError, match="key.path=value"):
        parse_override("nonsense")


def test_error_names_the_line_of_the_bad_key(write_scenario):
    text = (
        "name: x\nn_particles: 10\nsteps: 5\nseeds: 2\nsource: {dataset: uniform_cube}\n"
        "target: {dataset: two_moons}\nmethods:\n  - method: swd\n    lrr: 0.1\n"
    )
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(
        f"{path}:9: methods[0].lrr: unknown key (did you mean 'lr'?)"
    )


def test_duplicate_labels_are_rejected():
    raw = small_scenario(methods=[{"method": "swd"}, {"method": "swd"}])
    with pytest.raises(ScenarioError, match="label 'swd' is used twice"):
        build_scenario(raw)


def test_method_on_the_wrong_manifold():
    raw = small_scenario(
        methods=[{"method": "max_sw"}],
        manifold="poincare",
        source={"dataset": "wrapped_normal"},
        target={"dataset": "wrapped_normal"},
    )
    with pytest.raises(ScenarioError, match="does not run on 'poincare'"):
        build_scenario(raw)


def test_resolved_scenario_round_trips():
    scenario = build_scenario(small_scenario())
    again = build_scenario(scenario.to_dict())
    assert again.to_dict() == scenario.to_dict()
