"""Hostile YAML is refused in one line before anything is built (issue 21, items 11 and 12).

Every hostile file is generated here, small: an alias bomb, deep nesting, a 5,001-digit integer,
a repeated key, a recursive alias, an oversized file.
"""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from sliceflow.cli import app
from sliceflow.scenario import ScenarioError, load_scenario, parse_override
from sliceflow.yaml_safe import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    YAMLInputError,
    load_yaml,
    read_yaml,
    safe_load,
)
from tests.helpers import SCENARIOS

HEAD = (
    "name: x\nn_particles: 10\nsteps: 5\nseeds: 2\nsource: {dataset: uniform_cube}\n"
    "target: {dataset: two_moons}\nmethods:\n  - method: swd\n    lr: 0.1\n"
)  # line 9 is the method's lr


def alias_bomb() -> str:
    """The "billion laughs": 9 aliases of 9 aliases ... 9^9 strings from about 700 bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\ndescription: *i\n"


def test_a_repeated_key_names_both_lines_and_the_key_path(write_scenario):
    path = write_scenario(HEAD + "    n_projections: 5\n    lr: 0.2\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        f"{path}:11: methods[0].lr: key 'lr' is given twice (lines 9 and 11); keep one"
    )


def test_quoted_and_plain_keys_are_the_same_key():
    with pytest.raises(YAMLInputError, match="key 'steps' is given twice"):
        load_yaml('steps: 1\n"steps": 2\n')


def test_merge_keys_still_work_and_own_keys_win():
    data, lines = load_yaml("base: &b {lr: 1, n: 2}\nswd: {<<: *b, lr: 3}\n")
    assert data["swd"] == {"lr": 3, "n": 2}
    assert lines[("swd", "lr")] == 2 and lines[("swd", "n")] == 1


def test_the_alias_bomb_is_refused_quickly(write_scenario):
    assert len(alias_bomb()) < 800
    with pytest.raises(YAMLInputError, match=f"more than {MAX_NODES} values once its aliases"):
        load_yaml(alias_bomb())
    result = CliRunner().invoke(app, ["validate", str(write_scenario(HEAD + alias_bomb()))])
    assert result.exit_code == 2 and "aliases (*name) are expanded" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "1",
    ],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused_not_a_recursion_error(text):
    with pytest.raises(YAMLInputError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_yaml(text)


def test_aliases_cannot_nest_past_the_depth_bound():
    deep = "[" * 40 + "1" + "]" * 40
    with pytest.raises(YAMLInputError, match="nested deeper"):
        load_yaml(f"a: &a {deep}\nb: [{', '.join(['*a'] * 2)}, [[[[*a]]]]]\nc: &c [*a, [*a]]\n"
                  "d: [[[[[[[[[[[[[[[[[[[[[[[[[[[*c]]]]]]]]]]]]]]]]]]]]]]]]]]]\n")  # fmt: skip


def test_a_recursive_alias_is_refused():
    with pytest.raises(YAMLInputError, match="refers to a value that contains it"):
        load_yaml("a: &a [1, *a]\n")


def test_a_huge_integer_is_refused_with_its_line(write_scenario):
    path = write_scenario(HEAD.replace("steps: 5", "steps: " + "1" * 5001))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:3: an integer of 5001 characters")


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + "description: " + "x" * MAX_BYTES + "\n")
    with pytest.raises(ScenarioError, match="more than a YAML file of sliceflow may hold"):
        load_scenario(path)
    with pytest.raises(YAMLInputError):
        read_yaml(path)


def test_a_value_python_cannot_build_is_a_yaml_error():
    with pytest.raises(YAMLInputError, match="cannot read the value '2001-13-45'"):
        safe_load("when: 2001-13-45\n")


def test_overrides_go_through_the_same_bounds():
    with pytest.raises(ScenarioError, match="--set steps: an integer of 5001 characters"):
        parse_override("steps=" + "9" * 5001)
    assert parse_override("methods.swd.lr=[unclosed") == ("methods.swd.lr", "[unclosed")


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_read_as_pyyaml_reads_them(path):
    text = path.read_text()
    assert safe_load(text) == yaml.safe_load(text)
