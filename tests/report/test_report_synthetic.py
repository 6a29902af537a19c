"""Synthetic run directories in the engine's documented formats (shared by the report tests).

Particles move along straight lines from a uniform source to a matched target sample, so the
traced W2^2 is known exactly: at fraction a of the way it is (1 - a)^2 W2^2(source, target)
(displacement interpolation along the optimal matching), which the tests also check.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import ot
import yaml


def _optimal_matching(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    plan = ot.emd(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), ot.dist(x, y))
    return plan.argmax(axis=1), float(np.sum(plan * ot.dist(x, y)))


def write_run(
    run_dir: Path,
    *,
    labels: tuple[str, ...] = ("swd", "max_sw"),
    seeds: tuple[int, ...] = (0, 1, 2),
    n: int = 30,
    dim: int = 2,
    steps: int = 40,
    every: int = 2,
    n_snapshots: int = 11,
    completed: dict[str, int] | None = None,
    diverge: tuple[str, int, int] | None = ("max_sw", 1, 20),  # (label, seed, from step)
    manifold: str = "euclidean",
    metrics: bool = True,
    output: dict | None = None,
) -> Path:
    """Write trace.csv, summary.csv, metrics.csv, particles.npz, scenario.yaml into run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    completed = completed or {}
    scale = 0.45 if manifold == "poincare" else 1.0
    targets, sources, w2_full = [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        y = scale * rng.normal(size=(n, dim)) * np.array([1.0] + [0.3] * (dim - 1))
        x = scale * (2.5 * (rng.uniform(size=(n, dim)) - 0.5) + 0.2)
        match, cost = _optimal_matching(x, y)
        targets.append(y)
        sources.append((x, y[match]))
        w2_full.append(cost)
    snap_steps = np.unique(np.round(np.linspace(0, steps, n_snapshots)).astype(int))
    trace_rows, particles = [], {}
    for method_index, label in enumerate(labels):
        done = completed.get(label, steps)
        speed = 1.0 + method_index  # the second method converges faster
        frames = np.full((snap_steps.size, len(seeds), n, dim), np.nan)  # (K, S, n, d)
        for s, seed in enumerate(seeds):
            x0, y_matched = sources[s]
            for step in range(0, done + 1):
                a = min(0.97, speed * step / (steps * 1.25))
                w2sq = (1 - a) ** 2 * w2_full[s]
                if diverge and diverge[0] == label and diverge[1] == seed and step >= diverge[2]:
                    w2sq = math.inf
                if step % every == 0 or step == steps:
                    elapsed = 0.01 * (method_index + 1) * step
                    trace_rows.append([label, seed, step, w2sq / 2, w2sq, elapsed])
                if step in snap_steps:
                    frames[np.searchsorted(snap_steps, step), s] = (1 - a) * x0 + a * y_matched
        particles[label] = frames
    _write_csv(
        run_dir / "trace.csv", ["method", "seed", "step", "loss", "w2sq", "elapsed_s"], trace_rows
    )
    _write_csv(
        run_dir / "summary.csv",
        ["method", "step", "n_seeds", "n_diverged", "q25", "median", "q75"],
        summary_rows(trace_rows),
    )
    if metrics:
        rows = [[r[0], r[1], r[2], "mean_norm", 1.0 / (1 + r[2])] for r in trace_rows]
        _write_csv(run_dir / "metrics.csv", ["method", "seed", "step", "name", "value"], rows)
    np.savez(
        run_dir / "particles.npz",
        steps=snap_steps,
        target=np.stack(targets),
        seeds=np.array(seeds),
        **particles,
    )
    scenario = {
        "name": run_dir.name,
        "manifold": manifold if manifold == "euclidean" else {"name": manifold, "curvature": -1.0},
        "n_particles": n,
        "steps": steps,
        "seeds": list(seeds),
        "source": {"dataset": "uniform_cube"},
        "target": {"dataset": "gaussian", "n_samples": n},
        "methods": [{"method": label, "label": label, "lr": 0.01} for label in labels],
        "trace": {"every": every},
        "output": output or {"gif_frames": 8, "gif_size_px": 160, "gif_fps": 10},
        "run": {
            "manifold": manifold,
            "interrupted": bool(completed),
            "completed_steps": {label: completed.get(label, steps) for label in labels},
        },
    }
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))
    return run_dir


def summary_rows(trace_rows: list[list]) -> list[list]:
    """The documented summary: n_seeds (all), n_diverged, quartiles of log10 w2sq (finite)."""
    groups: dict[tuple[str, int], list[float]] = {}
    for label, _seed, step, _loss, w2sq, _elapsed in trace_rows:
        groups.setdefault((label, step), []).append(w2sq)
    rows = []
    for (label, step), values in groups.items():
        finite = np.log10([v for v in values if math.isfinite(v)])
        q = np.percentile(finite, [25, 50, 75]) if finite.size else [math.nan] * 3
        rows.append([label, step, len(values), len(values) - finite.size, *q])
    return rows


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_synthetic_trace_is_the_exact_w2_of_the_saved_particles(tmp_path):
    run = write_run(tmp_path / "run", steps=20, every=5, n_snapshots=5, diverge=None)
    data = np.load(run / "particles.npz")
    trace = list(csv.DictReader((run / "trace.csv").open()))
    for k, step in enumerate(data["steps"]):
        x, y = data["swd"][k, 0], data["target"][0]
        row = next(
            r for r in trace if r["method"] == "swd" and r["seed"] == "0" and int(r["step"]) == step
        )
        exact = ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), ot.dist(x, y))
        assert float(row["w2sq"]) == np.float64(exact).item() or math.isclose(
            float(row["w2sq"]), exact, rel_tol=1e-6, abs_tol=1e-12
        )


def test_report_fallback_summary_equals_the_documented_summary(tmp_path):
    from sliceflow.rundir import TraceSchema, read_summary, read_trace, summary_from_trace

    run = write_run(tmp_path / "run")
    _, traces = read_trace(run / "trace.csv", TraceSchema())
    recomputed = summary_from_trace(traces)
    saved = read_summary(run / "summary.csv")
    assert recomputed.keys() == saved.keys()
    for label, rows in saved.items():
        for a, b in zip(rows, recomputed[label], strict=True):
            assert (a.step, a.n_seeds, a.n_diverged) == (b.step, b.n_seeds, b.n_diverged)
            np.testing.assert_allclose(
                [a.q25, a.median, a.q75], [b.q25, b.median, b.q75], rtol=1e-12
            )
