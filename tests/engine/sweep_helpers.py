"""Shared by the sweep tests: a small scenario, and what "the same run folder" means, file by file.

trace.csv is compared with its ``elapsed_s`` column dropped (a timing); summary.csv and metrics.csv
byte for byte; particles.npz byte for byte (its entries carry no write date); scenario.yaml with the
``run`` section's timings dropped (started, wall_s, elapsed_s, ms_per_step).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml

from tests.helpers import small_scenario

TIMINGS = ("started", "wall_s", "elapsed_s", "ms_per_step")


def sweep_scenario(path: Path, **changes) -> Path:
    methods = [{"method": "swd", "lr": 1.0, "n_projections": 10},
               {"method": "max_sw", "lr": 1.0, "inner_steps": 3}]  # fmt: skip
    settings = {"steps": 12, "seeds": 4, "n_particles": 20, "methods": methods,
                "snapshots": {"every": 4}}  # fmt: skip
    data = small_scenario(**{**settings, **changes})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def trace_without_timings(run_dir: Path) -> str:
    rows = list(csv.reader(io.StringIO((run_dir / "trace.csv").read_text())))
    assert rows[0][-1] == "elapsed_s"
    return "\n".join(",".join(row[:-1]) for row in rows)


def scenario_without_timings(run_dir: Path) -> dict:
    data = yaml.safe_load((run_dir / "scenario.yaml").read_text())
    for key in TIMINGS:
        data["run"].pop(key)
    return data


def assert_same_run(first: Path, second: Path, scenario: bool = True) -> None:
    """The two run folders hold the same numbers, bit for bit (timings aside)."""
    assert trace_without_timings(first) == trace_without_timings(second)
    for name in ("summary.csv", "metrics.csv", "particles.npz"):
        if (first / name).exists() or (second / name).exists():
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    if scenario:
        assert scenario_without_timings(first) == scenario_without_timings(second)
