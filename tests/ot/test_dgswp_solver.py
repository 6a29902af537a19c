"""DGSWPSolver: deep MLPs, the two Stein estimators, SGD and Adam as torch's, keep_best,
batching, and the fast sort and plan costs it uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from sliceflow.ot.sliced import DGSWPConfig, DGSWPSolver, EuclideanProjections
from sliceflow.ot.sliced._dgswp import projection_family
from sliceflow.ot.sliced._plans import PlanCosts
from sliceflow.ot.sliced._projections import evaluate, init_parameters, parameter_count
from sliceflow.ot.sliced._slicing import argsort_rows, stable_argsort_rows
from tests.helpers import clouds


def gens(seeds):
    return [torch.Generator().manual_seed(100 + s) for s in seeds]


def solver(seeds=(0,), dtype=torch.float64, stable_sort=False, **changes):
    options = {"projection": "mlp", "hidden": [8, 5], "eps": 0.3, "n_perturbations": 6} | changes
    return DGSWPSolver.from_config(
        DGSWPConfig(**options), 2, gens(seeds), dtype=dtype, stable_sort=stable_sort
    )


def test_deep_mlp_values_equal_torch_modules():
    """The flat layout of a 2-8-5-1 ReLU MLP evaluates as the nn.Sequential it describes."""
    params = init_parameters("mlp", 2, [8, 5], gens([0, 1]), dtype=torch.float64, device="cpu")
    assert params.shape == (2, parameter_count("mlp", 2, [8, 5])) == (2, 8 * 3 + 5 * 9 + 5 + 1)
    points = torch.randn(2, 300, 2, dtype=torch.float64)  # 300 > one block of points
    values = evaluate("mlp", params.unsqueeze(1), points, [8, 5])  # (2, 1, 300)
    for s in range(2):
        p = params[s]
        net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5),
                                  torch.nn.ReLU(), torch.nn.Linear(5, 1)).double()  # fmt: skip
        first, second = p[:24].view(8, 3), p[24:69].view(5, 9)
        with torch.no_grad():
            net[0].weight.copy_(first[:, :2]), net[0].bias.copy_(first[:, 2])
            net[2].weight.copy_(second[:, :8]), net[2].bias.copy_(second[:, 8])
            net[4].weight.copy_(p[69:74].view(1, 5)), net[4].bias.copy_(p[74:])
            expected = net(points[s])[:, 0]
        torch.testing.assert_close(values[s, 0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variance_reduction", [True, False])
def test_estimator_is_the_stein_formula_on_the_plan_costs_of_the_perturbed_models(
    variance_reduction,
):
    """costs[k] is h(phi + eps Z_k); the gradient is (1/N) sum (h_k - h_0) Z_k / eps with
    variance reduction and the plain (1/N) sum h_k Z_k / eps without."""
    x, y = clouds([3], n=40)
    s = solver(variance_reduction=variance_reduction)
    costs = PlanCosts(x, y)
    perturbation = s.perturb(s.prepare(x, y, costs))
    z, h, eps, N = perturbation.draws, perturbation.costs, 0.3, 6
    models = torch.cat([s.params.unsqueeze(1), s.params.unsqueeze(1) + eps * z], 1)
    sigma, tau = s.family.orders(models, x, y)
    torch.testing.assert_close(h, costs(sigma, tau), rtol=0, atol=0)
    baseline = h[0, 0] if variance_reduction else 0.0
    expected = sum((h[0, k + 1] - baseline) * z[0, k] for k in range(N)) / (N * eps)
    torch.testing.assert_close(s.gradient(perturbation)[0], expected, rtol=1e-12, atol=1e-12)
    other = solver(variance_reduction=not variance_reduction).gradient(perturbation)
    assert not torch.allclose(other, s.gradient(perturbation))  # the flag matters


@pytest.mark.parametrize("stable_sort", [True, False])
def test_orderings_are_the_argsorts_of_each_clouds_values(stable_sort):
    """One sort call on both halves (n == m) gives each cloud's own argsort; n != m too."""
    x, y = clouds([0, 1], n=50)
    s = solver(seeds=(0, 1), dtype=torch.float32, stable_sort=stable_sort)
    models = s.params.unsqueeze(1) + 0.1 * torch.randn(2, 3, s.params.shape[-1])
    for cloud_y in (y.float(), y.float()[:, :30]):
        sigma, tau = s.family.orders(models, x.float(), cloud_y)
        values = s.family.values(models, torch.cat([x.float(), cloud_y], 1))
        assert torch.equal(sigma, s.family.argsort(values[..., :50].contiguous()))
        assert torch.equal(tau, s.family.argsort(values[..., 50:].contiguous()))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimiser_steps_equal_torch_optimisers_on_the_same_gradients(name):
    x, y = clouds([1, 2], n=30)
    s = solver(seeds=(1, 2), optimizer=name, inner_lr=0.05)
    reference = torch.nn.Parameter(s.params.clone())
    torch_opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name]([reference], lr=0.05)
    fixed = s.prepare(x, y)
    for _ in range(4):
        perturbation = s.perturb(fixed)
        reference.grad = s.gradient(perturbation).clone()
        torch_opt.step()
        s.update(perturbation)
        assert torch.equal(s.params, reference.detach())


def test_keep_best_fit_rolls_back_to_the_lowest_iterate():
    """fit(keep_best) ends on a copy of the visited iterate with the lowest plan cost."""
    x, y = clouds([5, 6], n=40)
    config = {"seeds": (5, 6), "optimizer": "sgd", "inner_lr": 2.0}
    best = solver(**config, keep_best=True)
    best.fit(x, y, 15)
    replay = solver(**config)
    fixed = replay.prepare(x, y)
    iterates, values = [], []
    for _ in range(15):
        iterates.append(replay.params.clone())
        values.append(replay.step(fixed)[:, 0])
    iterates.append(replay.params.clone())
    values.append(replay.cost(fixed))
    values = torch.stack(values, 1)  # (S, 16)
    for s in range(2):
        first_best = int(values[s].argmin())  # ties keep the earlier iterate
        assert torch.equal(best.params[s], iterates[first_best][s])
    torch.testing.assert_close(best.cost(fixed), values.min(1).values, rtol=0, atol=0)
    assert (values.argmin(1) != 15).any()  # a real roll-back happened


def test_a_seed_alone_equals_the_same_seed_in_a_batch():
    x, y = clouds([0, 4, 9], n=40, dtype=torch.float32)
    batch = solver(seeds=(0, 4, 9), dtype=torch.float32, stable_sort=True)
    batch_costs = [batch.step(batch.prepare(x, y)) for _ in range(3)]
    for i, seed in enumerate((0, 4, 9)):
        alone = solver(seeds=(seed,), dtype=torch.float32, stable_sort=True)
        fixed = alone.prepare(x[i : i + 1], y[i : i + 1])
        costs = [alone.step(fixed) for _ in range(3)]
        assert torch.equal(alone.params[0], batch.params[i])
        assert all(torch.equal(a[0], b[i]) for a, b in zip(costs, batch_costs, strict=True))


def test_state_round_trip_continues_identically():
    x, y = clouds([2], n=30)
    first = solver(optimizer="adam", keep_best=True)
    fixed = first.prepare(x, y)
    for _ in range(2):
        first.step(fixed)
    first.remember(first.cost(fixed))
    state, rng = first.state_dict(), [g.get_state() for g in first.generators]
    expected = [first.step(fixed) for _ in range(2)]
    second = solver(optimizer="adam", keep_best=True)
    second.load_state_dict(state)
    for g, saved in zip(second.generators, rng, strict=True):
        g.set_state(saved)
    assert all(torch.equal(a, second.step(fixed)) for a in expected)
    assert torch.equal(first.best_params, second.best_params)


def test_stable_argsort_equals_numpy_stable_argsort_with_ties_and_signed_zeros():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((7, 1024)).astype(np.float32)
    values[:, ::5] = np.round(values[:, ::5])  # many exact ties
    values[0, :4] = [0.0, -0.0, 0.0, -0.0]
    values[1, :3] = [np.inf, -np.inf, np.float32(3.4e38)]
    order = stable_argsort_rows(torch.from_numpy(values))
    assert np.array_equal(order.numpy(), np.argsort(values, axis=-1, kind="stable"))
    with_nan = values.copy()
    with_nan[2, 7] = np.nan
    assert np.array_equal(stable_argsort_rows(torch.from_numpy(with_nan)).numpy(),
                          np.argsort(with_nan, axis=-1, kind="stable"))  # fmt: skip
    as64 = torch.from_numpy(values.astype(np.float64))
    assert np.array_equal(stable_argsort_rows(as64).numpy(), order.numpy())
    distinct = torch.from_numpy(rng.standard_normal((3, 500)).astype(np.float32))
    assert torch.equal(stable_argsort_rows(distinct), argsort_rows(distinct))


def test_plan_costs_by_coordinate_equal_the_gram_form():
    x, y = clouds([0, 1], n=200)
    sigma = torch.stack([torch.stack([torch.randperm(200) for _ in range(5)]) for _ in range(2)])
    tau = torch.stack([torch.stack([torch.randperm(200) for _ in range(5)]) for _ in range(2)])
    gram = PlanCosts(x, y)(sigma, tau)
    coordinate = PlanCosts(x, y, by_coordinate=True)(sigma, tau)
    torch.testing.assert_close(coordinate, gram, rtol=1e-13, atol=1e-13)
    matched_x = x.gather(1, sigma[:, 0, :, None].expand(-1, -1, 2))
    matched_y = y.gather(1, tau[:, 0, :, None].expand(-1, -1, 2))
    direct = (matched_x - matched_y).square().sum(-1).mean(-1)
    torch.testing.assert_close(coordinate[:, 0], direct, rtol=1e-13, atol=1e-13)
    both = torch.stack([sigma, tau], 2)  # strided halves, as the solver's one sort call gives
    halves = PlanCosts(x, y, by_coordinate=True)(both[:, :, 0], both[:, :, 1])
    assert torch.equal(halves, coordinate)
    columns = PlanCosts(x, y, by_coordinate=True)._cross_columns(sigma, tau)  # other devices' path
    torch.testing.assert_close(PlanCosts(x, y).const[:, None] - 2 * columns, gram, rtol=1e-13,
                               atol=1e-13)  # fmt: skip


def test_bad_solver_options_are_refused():
    with pytest.raises(ValidationError, match="'sgd' or 'adam'"):
        solver(optimizer="rmsprop")
    with pytest.raises(ValidationError, match="'linear', 'mlp' or 'busemann'"):
        solver(projection="cubic")
    with pytest.raises(ValueError, match="unknown projection"):
        EuclideanProjections("cubic", 8, 2, dtype=torch.float64)
    family = EuclideanProjections("linear", 8, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown optimizer"):
        family.optimizer(family.init_params(gens([0])), "rmsprop", 0.1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"projection": "linear", "kappa": 50.0}, "kappa does not apply to projection linear"),
        ({"projection": "busemann", "eps": 0.1}, "eps does not apply to projection busemann"),
        ({"projection": "busemann", "hidden": 8}, "hidden does not apply"),
        ({"projection": "busemann", "optimizer": "adam"}, "set optimizer: sgd"),
        ({"hidden": [8, 0]}, "positive integers"),
        ({"hidden": []}, "positive integers"),
    ],
)
def test_keys_the_projection_cannot_use_are_refused(options, message):
    with pytest.raises(ValidationError, match=message):
        DGSWPConfig(**options)


def test_each_projection_runs_on_its_own_space_only():
    with pytest.raises(ValueError, match="in R\\^d use projection linear or mlp"):
        projection_family(DGSWPConfig(projection="busemann", optimizer="sgd"), 2,
                          dtype=torch.float64)  # fmt: skip
    with pytest.raises(ValueError, match="set projection: busemann"):
        projection_family(DGSWPConfig(), 2, dtype=torch.float64, curvature=1.0)
    assert isinstance(projection_family(DGSWPConfig(), 2, dtype=torch.float64),
                      EuclideanProjections)  # fmt: skip


def test_hidden_takes_one_width_or_a_list_with_the_same_models():
    """hidden 8 and [8] name the same MLP: the same parameters and the same values."""
    one, listed = (solver(projection="mlp", hidden=h) for h in (8, [8]))
    assert torch.equal(one.params, listed.params)
    points = torch.randn(1, 20, 2, dtype=torch.float64)
    models = one.params.unsqueeze(1)
    assert torch.equal(one.family.values(models, points), listed.family.values(models, points))


def test_task_defaults_are_data_over_the_one_config():
    """A variant changes defaults only: same fields, validation and descriptions."""
    from sliceflow.tasks.plan.methods.base import PlanConfig

    Variant = DGSWPConfig.with_defaults(
        "Variant", {"projection": "mlp", "hidden": [64, 16]}, module=__name__, bases=(PlanConfig,)
    )
    assert set(Variant.model_fields) == set(DGSWPConfig.model_fields)
    assert Variant().hidden == [64, 16] and Variant().projection == "mlp"
    assert Variant(**Variant().model_dump()) == Variant()  # a full dump validates again
    for name, field in DGSWPConfig.model_fields.items():
        assert Variant.model_fields[name].description == field.description
    assert DGSWPConfig().hidden == 256  # the base is untouched
    with pytest.raises(ValidationError, match="greater than 0"):
        Variant(inner_lr=0.0)
    with pytest.raises(ValidationError, match="Extra inputs"):
        Variant(lr=0.2)
    with pytest.raises(TypeError, match="no field 'lr'"):
        DGSWPConfig.with_defaults("Bad", {"lr": 0.1}, module=__name__)
