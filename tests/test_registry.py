"""Every registry is a Registry: one lookup, one did-you-mean line, variants, plugins' rows."""

from __future__ import annotations

import pytest

from sliceflow.datasets import DATASETS
from sliceflow.flows import FLOW_VARIANTS, FLOWS, Flow, get_flow, known_flows
from sliceflow.manifolds import MANIFOLDS
from sliceflow.registry import Registry, catalogue
from sliceflow.tasks import TASKS
from sliceflow.tasks.flow_matching.couplings import COUPLINGS
from sliceflow.tasks.plan.methods import PLAN_METHODS

# (registry, a known name, a typo of it, the word the messages use)
REGISTRIES = {
    "flows": (FLOWS, "max_sw", "max_ws", "method"),
    "manifolds": (MANIFOLDS, "poincare", "poincaree", "manifold"),
    "datasets": (DATASETS, "two_moons", "two_moon", "dataset"),
    "tasks": (TASKS, "flow_matching", "flow_matchin", "task"),
    "plan methods": (PLAN_METHODS, "min_swgg_opt", "min_swgg_op", "plan method"),
    "couplings": (COUPLINGS, "minibatch_ot", "minibatch_tot", "coupling"),
}


@pytest.mark.parametrize("case", sorted(REGISTRIES))
def test_a_miss_is_one_line_with_the_closest_name_and_all_known(case):
    registry, name, typo, what = REGISTRIES[case]
    assert isinstance(registry, Registry)
    assert registry.lookup(name) is registry[name]
    with pytest.raises(ValueError) as caught:
        registry.lookup(typo)
    known = ", ".join(registry.names())
    assert (
        str(caught.value)
        == f"unknown {what} {typo!r} (did you mean {name!r}?); known {what}s: {known}"
    )
    with pytest.raises(ValueError, match=f"unknown {what} 3; known {what}s: "):
        registry.lookup(3)


def test_a_variant_is_the_implementation_on_its_manifold():
    general, ball = get_flow("dgswp"), get_flow("dgswp", "poincare")
    assert ball is FLOW_VARIANTS[("dgswp", "poincare")] and ball is not general
    assert general is FLOWS["dgswp"] and get_flow("dgswp", "euclidean") is general
    assert FLOWS.supported_manifolds("dgswp") == {"euclidean", "poincare"}
    assert get_flow("swd", "poincare") is FLOWS["swd"]  # no variant: the general one
    assert known_flows() == FLOWS.names() and "dgswp" in known_flows()
    with pytest.raises(ValueError, match="^method 'max_sw' does not run on 'poincare'; it "
                                         "supports: euclidean$"):  # fmt: skip
        get_flow("max_sw", "poincare")


def test_registering_a_name_twice_is_refused():
    registry = Registry("widget", "sliceflow.manifolds")

    @registry.register("a")
    class A:
        manifolds = frozenset({"euclidean"})

    assert A.name == "a" and registry.lookup("a") is A
    with pytest.raises(RuntimeError, match="widget 'a' registered twice"):
        registry.register("a")(type("B", (), {}))
    registry.register("a", manifold="poincare")(type("C", (), {"manifolds": frozenset()}))
    with pytest.raises(RuntimeError, match="registered twice"):
        registry.register("a", manifold="poincare")(type("D", (), {}))
    with pytest.raises(RuntimeError, match="registered twice"):
        registry.add("a", object())


def test_a_class_reference_must_subclass_the_base():
    assert FLOWS.lookup("sliceflow.flows.swd:SWD") is FLOWS["swd"]
    with pytest.raises(ValueError, match="is not a subclass of sliceflow.flows.Flow"):
        FLOWS.lookup("sliceflow.flows:FlowConfig")
    with pytest.raises(ValueError, match="'json:dumps'"):  # no base: a name with a colon
        DATASETS.lookup("json:dumps")
    assert issubclass(FLOWS.lookup("sliceflow.flows.swd:SWD", "poincare"), Flow)


def test_catalogue_rows_name_the_manifolds_and_origin_of_plugged_entries():
    rows = catalogue(FLOWS)
    assert rows == sorted(rows, key=lambda row: (row[0], row[2]))
    dgswp = [row for row in rows if row[0] == "dgswp"]
    assert [row[2] for row in dgswp] == ["euclidean; sliceflow", "poincare; sliceflow"]
    assert dgswp[0][1] == FLOWS["dgswp"].summary
    assert len(rows) == len(FLOWS) + len(FLOW_VARIANTS)
    assert ("swd", FLOWS["swd"].summary, "euclidean, poincare; sliceflow") in rows
    tasks = catalogue(TASKS)  # no plugins: no origin; no summary: the docstring's first line
    assert [row[0] for row in tasks] == sorted(TASKS) and all(row[2] == "" for row in tasks)
    assert tasks[0][1] == TASKS["dictionary"].__doc__.strip().splitlines()[0]
    assert catalogue({"b": MANIFOLDS["euclidean"]}) == [("b", MANIFOLDS["euclidean"].summary, "")]
